package nethttp

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestScenariosAsGo runs net/http scenarios (hijack under timeouts, a
// client leaving mid-response or mid-upload, resets, Shutdown with a
// hijacked conn, multi-range and slow ServeFile, sendfile under a write
// timeout, chunked 100-continue uploads, a CONNECT proxy) on Go's
// listener and on each upoll stack, with and without parking, and fails
// on any difference in what the handler and the client observe.
func TestScenariosAsGo(t *testing.T) {
	type sc struct {
		name string
		f    func(t *testing.T, st revStack) []string
	}
	scenarios := []sc{
		// Hijack under ReadTimeout and WriteTimeout: net/http clears the
		// read deadline (abortPendingRead) and leaves WriteTimeout's.
		{"hijackDeadlines", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					res <- "hijack: " + err.Error()
					return
				}
				defer c.Close()
				stop := time.AfterFunc(3*time.Second, func() { c.Close() })
				defer stop.Stop()
				time.Sleep(400 * time.Millisecond)
				b := make([]byte, 4)
				_, rerr := io.ReadFull(c, b)
				_, werr := c.Write([]byte("pong"))
				res <- fmt.Sprintf("read=%q %s | write %s", b, errDesc(rerr), errDesc(werr))
			}), func(s *http.Server) {
				s.ReadTimeout = 200 * time.Millisecond
				s.WriteTimeout = 200 * time.Millisecond
			})
			c, _ := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			time.Sleep(300 * time.Millisecond)
			io.WriteString(c, "ping")
			r := <-res
			return []string{r}
		}},
		// A client that goes away in the middle of a large response: the
		// handler's Write fails and its request context is cancelled.
		{"disconnectMidResponse", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 32<<10)
				var err error
				for i := 0; i < 4096 && err == nil; i++ {
					_, err = w.Write(chunk)
				}
				s := fmt.Sprintf("writeFailed=%v", err != nil)
				select {
				case <-r.Context().Done():
					s += " ctx=" + fmt.Sprint(r.Context().Err())
				case <-time.After(3 * time.Second):
					s += " ctx not done"
				}
				res <- s
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			io.CopyN(io.Discard, resp.Body, 256<<10)
			c.Close()
			return []string{<-res}
		}},
		// The client half-closes while the handler waits: net/http's
		// background read sees EOF and cancels the context.
		{"clientCloseWriteCancels", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			started := make(chan struct{})
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				select {
				case <-r.Context().Done():
					res <- "ctx=" + fmt.Sprint(r.Context().Err())
				case <-time.After(3 * time.Second):
					res <- "ctx not done"
				}
			}), nil)
			c, _ := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			<-started
			c.(*net.TCPConn).CloseWrite()
			return []string{<-res}
		}},
		// Shutdown does not wait for hijacked connections, and leaves
		// them working.
		{"shutdownHijacked", func(t *testing.T, st revStack) []string {
			hijacked := make(chan net.Conn, 1)
			srv, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				io.WriteString(c, "hijacked\n")
				hijacked <- c
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			line, _ := br.ReadString('\n')
			hc := <-hijacked
			defer hc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			err := srv.Shutdown(ctx)
			d := within(time.Since(start), 0, 200*time.Millisecond)
			// The hijacked conn still works both ways.
			io.WriteString(c, "ping")
			b := make([]byte, 4)
			hc.SetDeadline(time.Now().Add(2 * time.Second))
			_, rerr := io.ReadFull(hc, b)
			_, werr := hc.Write([]byte("pong"))
			b2 := make([]byte, 4)
			_, cerr := io.ReadFull(br, b2)
			hc.Close()
			_, eerr := br.ReadByte()
			return []string{line, fmt.Sprint(err), d, string(b), errDesc(rerr), errDesc(werr), string(b2), errDesc(cerr), errDesc(eerr)}
		}},
		// ServeContent with several ranges: a multipart body.
		{"multiRange", func(t *testing.T, st revStack) []string {
			data := make([]byte, 1<<20+7)
			for i := range data {
				data[i] = byte(i*7 + i>>11)
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "f"), data, 0o600)
			_, ln := revServe(t, st, http.FileServer(http.Dir(dir)), nil)
			req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/f", nil)
			req.Header.Set("Range", "bytes=0-9,1000-200999,1048000-")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return []string{errDesc(err)}
			}
			defer resp.Body.Close()
			_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			mr := multipart.NewReader(resp.Body, params["boundary"])
			out := []string{resp.Status}
			want := [][]byte{data[0:10], data[1000:201000], data[1048000:]}
			for i := 0; ; i++ {
				p, err := mr.NextPart()
				if err != nil {
					out = append(out, errDesc(err))
					break
				}
				b, err := io.ReadAll(p)
				out = append(out, fmt.Sprint(i < len(want) && bytes.Equal(b, want[i]), " ", len(b), " ", errDesc(err)))
			}
			return out
		}},
		// A large file to a slow reader (the sendfile path).
		{"serveFileSlowReader", func(t *testing.T, st revStack) []string {
			data := make([]byte, 2<<20+11)
			for i := range data {
				data[i] = byte(i*13 + i>>9)
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "f"), data, 0o600)
			_, ln := revServe(t, st, http.FileServer(http.Dir(dir)), nil)
			c, br := revRaw(t, ln)
			c.(*net.TCPConn).SetReadBuffer(128 << 10)
			var out []string
			for _, rng := range []string{"", "bytes=100-2000099"} {
				req := "GET /f HTTP/1.1\r\nHost: x\r\n"
				if rng != "" {
					req += "Range: " + rng + "\r\n"
				}
				io.WriteString(c, req+"\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return append(out, errDesc(err))
				}
				var got bytes.Buffer
				buf := make([]byte, 64<<10)
				for {
					n, err := resp.Body.Read(buf)
					got.Write(buf[:n])
					if err != nil {
						break
					}
					time.Sleep(time.Millisecond)
				}
				want := data
				if rng != "" {
					want = data[100:2000100]
				}
				out = append(out, fmt.Sprint(resp.Status, " ", bytes.Equal(got.Bytes(), want)))
			}
			return out
		}},
		// A chunked upload with Expect: 100-continue from a slow client.
		{"chunkedExpectSlow", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%d %v %d", len(b), err, bytes.Count(b, []byte("z")))
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
			cont, _ := br.ReadString('\n')
			br.ReadString('\n')
			for i := range 40 {
				fmt.Fprintf(c, "%x\r\n%s\r\n", 50000+i, strings.Repeat("z", 50000+i))
				time.Sleep(2 * time.Millisecond)
			}
			io.WriteString(c, "0\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{cont, errDesc(err)}
			}
			b, _ := io.ReadAll(resp.Body)
			return []string{cont, resp.Status, string(b)}
		}},
		// A file body sent with sendfile to a client that leaves.
		{"sendfileDisconnect", func(t *testing.T, st revStack) []string {
			dir := t.TempDir()
			fn := filepath.Join(dir, "f")
			os.WriteFile(fn, make([]byte, 64<<20), 0o600)
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				f, _ := os.Open(fn)
				defer f.Close()
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", fmt.Sprint(64<<20))
				_, err := io.Copy(w, f)
				s := fmt.Sprintf("copyFailed=%v", err != nil)
				select {
				case <-r.Context().Done():
					s += " ctx=" + fmt.Sprint(r.Context().Err())
				case <-time.After(3 * time.Second):
					s += " ctx not done"
				}
				res <- s
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			io.CopyN(io.Discard, resp.Body, 256<<10)
			c.Close()
			select {
			case r := <-res:
				return []string{r}
			case <-time.After(6 * time.Second):
				return []string{"handler stuck"}
			}
		}},
		// A CONNECT proxy: hijack, then io.Copy both ways with a Go
		// socket (splice one way, WriteTo the other), half-closes passed on.
		{"connectProxy", func(t *testing.T, st revStack) []string {
			back, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			go func() {
				bc, err := back.Accept()
				if err != nil {
					return
				}
				defer bc.Close()
				io.Copy(bc, bc) // echo until EOF
				bc.(*net.TCPConn).CloseWrite()
			}()
			res := make(chan string, 2)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				bc, err := net.Dial("tcp", r.Host)
				if err != nil {
					w.WriteHeader(502)
					return
				}
				defer bc.Close()
				c, brw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					return
				}
				defer c.Close()
				io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\n")
				if n := brw.Reader.Buffered(); n > 0 {
					b, _ := brw.Reader.Peek(n)
					bc.Write(b)
				}
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := io.Copy(bc, c) // c.WriteTo or bc.ReadFrom
					bc.(*net.TCPConn).CloseWrite()
					_ = n
					res <- fmt.Sprint("up ", errDesc(err))
				}()
				n, err := io.Copy(c, bc) // c.ReadFrom: splice
				c.(interface{ CloseWrite() error }).CloseWrite()
				wg.Wait()
				res <- fmt.Sprint("down ", n, " ", errDesc(err))
			}), nil)
			c, br := revRaw(t, ln)
			payload := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
			fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\nEARLY", back.Addr(), back.Addr())
			go func() {
				c.Write(payload)
				c.(*net.TCPConn).CloseWrite()
			}()
			line, _ := br.ReadString('\n')
			br.ReadString('\n')
			got, err := io.ReadAll(br)
			want := append([]byte("EARLY"), payload...)
			return []string{line, fmt.Sprint(len(got), " ", bytes.Equal(got, want), " ", errDesc(err)), <-res, <-res}
		}},
		{"writeTimeoutSleepThenWrite", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(250 * time.Millisecond)
				_, err := io.WriteString(w, "hi")
				err2 := http.NewResponseController(w).Flush()
				res <- errDesc(err) + " | " + errDesc(err2)
			}), func(s *http.Server) { s.WriteTimeout = 100 * time.Millisecond })
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			_, err := http.ReadResponse(br, nil)
			return []string{errDesc(err), <-res}
		}},
		{"sendfileWriteTimeout", func(t *testing.T, st revStack) []string {
			dir := t.TempDir()
			fn := filepath.Join(dir, "f")
			os.WriteFile(fn, make([]byte, 32<<20), 0o600)
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				f, _ := os.Open(fn)
				defer f.Close()
				w.Header().Set("Content-Type", "application/octet-stream")
				w.Header().Set("Content-Length", fmt.Sprint(32<<20))
				_, err := io.Copy(w, f)
				res <- errDesc(err)
			}), func(s *http.Server) { s.WriteTimeout = 300 * time.Millisecond })
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			buf := make([]byte, 16<<10)
			var rerr error
			for i := 0; i < 100 && rerr == nil; i++ {
				_, rerr = io.ReadFull(resp.Body, buf)
				time.Sleep(10 * time.Millisecond)
			}
			return []string{<-res, fmt.Sprint(rerr != nil)}
		}},
		{"resetAfterRequest", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
					res <- "ctx=" + fmt.Sprint(r.Context().Err())
				case <-time.After(3 * time.Second):
					res <- "ctx not done"
				}
			}), nil)
			c, _ := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return []string{<-res}
		}},
		{"resetRightAfterRequest", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
					res <- "ctx=" + fmt.Sprint(r.Context().Err())
				case <-time.After(3 * time.Second):
					res <- "ctx not done"
				}
			}), nil)
			c, _ := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			select {
			case r := <-res:
				return []string{r}
			case <-time.After(4 * time.Second):
				return []string{"no handler"}
			}
		}},
		{"uploadDisconnect", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				res <- fmt.Sprint(n == 1<<20, " ", errDesc(err))
			}), nil)
			c, _ := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n")
			c.Write(make([]byte, 1<<20))
			c.Close()
			return []string{<-res}
		}},
		{"expectContinueViaDialer", func(t *testing.T, st revStack) []string {
			var bodies atomic.Int64
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/no" {
					w.WriteHeader(403)
					return
				}
				n, _ := io.Copy(io.Discard, r.Body)
				bodies.Add(n)
				fmt.Fprint(w, n)
			}), nil)
			tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return st.dial(ctx, addr) },
				ExpectContinueTimeout: 5 * time.Second}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var out []string
			for _, p := range []string{"/no", "/yes", "/no", "/yes"} {
				req, _ := http.NewRequest("PUT", "http://"+ln.Addr().String()+p, bytes.NewReader(make([]byte, 200000)))
				req.Header.Set("Expect", "100-continue")
				resp, err := cl.Do(req)
				if err != nil {
					out = append(out, errDesc(err))
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out = append(out, resp.Status+" "+string(b))
			}
			return append(out, fmt.Sprint(bodies.Load()))
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			revCompareOn(t, revHTTPStacks(), s.f)
		})
	}
}

// TestParkBurst parks n idle keep-alive connections, then every one
// sends a request at once: all must be answered.
func TestParkBurst(t *testing.T) {
	for _, st := range revStacks()[1:] {
		t.Run(st.name, func(t *testing.T) {
			const n = 2000
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(hello), ErrorLog: log.New(io.Discard, "", 0)}
			if err := EnableParking(srv, ln, WithLinger(20*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			defer func() {
				srv.Close()
				<-done
			}()
			type cl struct {
				c  net.Conn
				br *bufio.Reader
			}
			conns := make([]cl, n)
			defer func() {
				for _, x := range conns {
					if x.c != nil {
						x.c.Close()
					}
				}
			}()
			var wg sync.WaitGroup
			var fails atomic.Int64
			var firstErr atomic.Value
			for i := range n {
				c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(60 * time.Second))
				conns[i] = cl{c, bufio.NewReader(c)}
			}
			req := func(x cl) {
				defer wg.Done()
				if _, err := io.WriteString(x.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				resp, err := http.ReadResponse(x.br, nil)
				if err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			for _, x := range conns {
				wg.Add(1)
				go req(x)
			}
			wg.Wait()
			if fails.Load() > 0 {
				t.Fatalf("first round: %d failed, first %v", fails.Load(), firstErr.Load())
			}
			if !testutil.WaitFor(20*time.Second, func() bool { ps, _ := Parking(ln); return ps.Parked == n }) {
				ps, _ := Parking(ln)
				t.Fatalf("parked %+v", ps)
			}
			start := time.Now()
			for round := range 3 {
				for _, x := range conns {
					wg.Add(1)
					go req(x)
				}
				wg.Wait()
				if fails.Load() > 0 {
					t.Fatalf("round %d: %d failed, first %v", round, fails.Load(), firstErr.Load())
				}
				time.Sleep(50 * time.Millisecond)
			}
			ps, _ := Parking(ln)
			t.Logf("3 bursts in %v; %+v", time.Since(start), ps)
		})
	}
}

// TestDialerKeepAliveReuse: http.Transport on the stack's Dialer reuses one
// connection for sequential requests of every shape, and survives the
// server's IdleTimeout closing it.
func TestDialerKeepAliveReuse(t *testing.T) {
	revCompareOn(t, revStacks(), func(t *testing.T, st revStack) []string {
		var news atomic.Int64
		big := strings.Repeat("B", 1<<20)
		srv, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			switch r.URL.Path {
			case "/big":
				io.WriteString(w, big)
			case "/chunked":
				for range 5 {
					io.WriteString(w, "chunk")
					w.(http.Flusher).Flush()
				}
			default:
				fmt.Fprint(w, n)
			}
		}), func(s *http.Server) {
			s.IdleTimeout = 1500 * time.Millisecond
			s.ConnState = func(c net.Conn, s http.ConnState) {
				if s == http.StateNew {
					news.Add(1)
				}
			}
		})
		_ = srv
		tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return st.dial(ctx, addr) }}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		base := "http://" + ln.Addr().String()
		var out []string
		do := func(method, path string, body io.Reader) {
			req, _ := http.NewRequest(method, base+path, body)
			resp, err := cl.Do(req)
			if err != nil {
				out = append(out, errDesc(err))
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(b) > 20 {
				b = b[:20]
			}
			out = append(out, fmt.Sprint(resp.Status, " ", string(b), " ", errDesc(err)))
		}
		for range 3 {
			do("GET", "/", nil)
			do("POST", "/", strings.NewReader(strings.Repeat("p", 300000)))
			do("GET", "/big", nil)
			do("GET", "/chunked", nil)
			do("PUT", "/", io.LimitReader(strings.NewReader(big), 70000)) // chunked upload
		}
		out = append(out, fmt.Sprint("conns=", news.Load()))
		time.Sleep(1800 * time.Millisecond) // server's IdleTimeout closes it
		do("GET", "/", nil)
		do("POST", "/", strings.NewReader("xyz"))
		out = append(out, fmt.Sprint("conns=", news.Load()))
		return out
	})
}

// TestShutdownMixedAsGo: Shutdown with idle, active and hijacked
// connections (and parked ones): how long it takes, what each client
// sees, and nothing left once the hijacked conn and the clients close.
func TestShutdownMixedAsGo(t *testing.T) {
	revCompareOn(t, revHTTPStacks(), func(t *testing.T, st revStack) []string {
		var out []string
		t.Run(st.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			hij := make(chan net.Conn, 1)
			started := make(chan struct{}, 2)
			var mu sync.Mutex
			var ended []time.Time // of the /slow handlers, in order
			srv, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/hijack":
					c, _, _ := w.(http.Hijacker).Hijack()
					hij <- c
				case "/slow":
					started <- struct{}{}
					time.Sleep(300 * time.Millisecond)
					io.WriteString(w, "slow done")
					mu.Lock()
					ended = append(ended, time.Now())
					mu.Unlock()
				default:
					io.WriteString(w, "ok")
				}
			}), nil)
			var idle []*bufio.Reader
			var conns []net.Conn
			for range 5 {
				c, br := revRaw(t, ln)
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.ReadAll(resp.Body)
				idle = append(idle, br)
				conns = append(conns, c)
			}
			time.Sleep(50 * time.Millisecond) // parked, where parking is on
			hc, hbr := revRaw(t, ln)
			io.WriteString(hc, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
			sconn := <-hij
			slowRes := make(chan string, 2)
			for range 2 {
				c, br := revRaw(t, ln)
				go func() {
					io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						slowRes <- errDesc(err)
						return
					}
					b, err := io.ReadAll(resp.Body)
					_, err2 := br.ReadByte()
					slowRes <- fmt.Sprint(string(b), " ", errDesc(err), " close=", resp.Close, " then ", errDesc(err2))
				}()
			}
			<-started
			<-started
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			serr := srv.Shutdown(ctx)
			// Shutdown must wait for both handlers, and return at its
			// first look for active connections after theirs closed. It
			// looks at intervals that double from 1 ms to at most 500 ms,
			// each up to 10% longer (net/http's shutdownPollIntervalMax):
			// within 550 ms of the close. The bound, 1 s from the later
			// handler's end, leaves 450 ms for the response's flush and
			// close and Shutdown's own wake-up on a busy machine. Timed
			// from Shutdown's start, as it was, the bound
			// also took in the handlers' sleep: one that overran by more
			// than the 210 ms left before the look at 511 ms made
			// Shutdown wait for the next, 500 ms on (Go's listener as
			// well as upoll's, under the netpoll suite beside).
			since := time.Duration(-1) // a handler still running
			mu.Lock()
			if len(ended) == 2 {
				since = time.Since(ended[1])
			}
			mu.Unlock()
			out = append(out, fmt.Sprint(serr), within(since, 0, time.Second))
			out = append(out, <-slowRes, <-slowRes)
			for _, br := range idle {
				_, err := br.ReadByte()
				out = append(out, "idle "+errDesc(err))
			}
			// The hijacked conn still works after Shutdown.
			sconn.Write([]byte("after"))
			b := make([]byte, 5)
			_, err := io.ReadFull(hbr, b)
			out = append(out, string(b)+" "+errDesc(err))
			sconn.Close()
			_, err = hbr.ReadByte()
			out = append(out, "hijacked "+errDesc(err))
			for _, c := range conns {
				c.Close()
			}
			hc.Close()
		})
		return out
	})
}
