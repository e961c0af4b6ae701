package nethttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// revServe serves h on st's listener with a configured http.Server
// (serveOn).
func revServe(t *testing.T, st revStack, h http.Handler, configure func(*http.Server)) (*http.Server, net.Listener) {
	t.Helper()
	ln, err := st.listen()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	if configure != nil {
		configure(srv)
	}
	if st.park {
		if err := EnableParking(srv, ln, WithLinger(10*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	serveOn(t, srv, ln)
	return srv, ln
}

// serveOn runs srv.Serve(ln), with srv's ErrorLog discarded unless set;
// when t ends it closes srv and checks that Serve returned.
func serveOn(t *testing.T, srv *http.Server, ln net.Listener) {
	t.Helper()
	if srv.ErrorLog == nil {
		srv.ErrorLog = log.New(io.Discard, "", 0)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Errorf("Serve on %v did not return", ln.Addr())
		}
	})
}

// revGet sends a GET of / on c and reads the response from br, then its
// body (an error reading the body is not reported).
func revGet(c net.Conn, br *bufio.Reader) (*http.Response, []byte, error) {
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, nil, err
	}
	b, _ := io.ReadAll(resp.Body)
	return resp, b, nil
}

// revEnd waits for the server to end the connection that br reads (or
// to send a byte) and says with what error, and whether within lo to hi.
func revEnd(br *bufio.Reader, lo, hi time.Duration) []string {
	start := time.Now()
	_, err := br.ReadByte()
	return []string{errDesc(err), within(time.Since(start), lo, hi)}
}

func revRaw(t *testing.T, ln net.Listener) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(8 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestAsGoHTTPMatrix(t *testing.T) {
	type sc struct {
		name string
		f    func(t *testing.T, st revStack) []string
	}
	scenarios := []sc{
		{"hijackBuffered", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, brw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					res <- "hijack: " + err.Error()
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				n := brw.Reader.Buffered()
				early, _ := brw.Reader.Peek(n)
				s := fmt.Sprintf("buffered=%q", early)
				brw.Reader.Discard(n)
				io.WriteString(c, "raw-hello\n")
				b := make([]byte, 5)
				_, err = io.ReadFull(c, b)
				s += fmt.Sprintf(" then=%q %v", b, err)
				c.(interface{ CloseWrite() error }).CloseWrite()
				_, err = c.Read(b)
				s += " " + errDesc(err)
				res <- s
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nEARLY")
			line, _ := br.ReadString('\n')
			io.WriteString(c, "later")
			rest, err := io.ReadAll(br)
			c.Close()
			return []string{line, string(rest), errDesc(err), <-res}
		}},
		{"bodyNotRead", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "early")
			}), nil)
			body := bytes.Repeat([]byte("x"), 2<<20)
			resp, err := http.Post("http://"+ln.Addr().String()+"/", "text/plain", bytes.NewReader(body))
			if err != nil {
				return []string{"post: " + errDesc(err)}
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			return []string{resp.Status, string(b), errDesc(err), fmt.Sprint(resp.Close)}
		}},
		{"bodyNotReadRaw", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "early")
			}), nil)
			c, br := revRaw(t, ln)
			go func() {
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n")
				c.Write(bytes.Repeat([]byte("x"), 300<<10))
			}()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			b, err := io.ReadAll(resp.Body)
			_, err2 := br.ReadByte()
			return []string{resp.Status, string(b), errDesc(err), fmt.Sprint(resp.Close), errDesc(err2)}
		}},
		{"maxHeaderBytes", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(hello), func(s *http.Server) { s.MaxHeaderBytes = 1 << 10 })
			c, br := revRaw(t, ln)
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 8<<10))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			io.Copy(io.Discard, resp.Body)
			_, err = br.ReadByte()
			return []string{resp.Status, errDesc(err)}
		}},
		{"expectContinueRejected", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusForbidden)
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			io.Copy(io.Discard, resp.Body)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp2, err := http.ReadResponse(br, nil)
			s2 := errDesc(err)
			if err == nil {
				s2 = resp2.Status
			}
			return []string{resp.Status, fmt.Sprint(resp.Close), s2}
		}},
		{"fullDuplexEcho", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				if err := rc.EnableFullDuplex(); err != nil {
					fmt.Fprint(w, err)
					return
				}
				w.WriteHeader(200)
				rc.Flush()
				br := bufio.NewReader(r.Body)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					io.WriteString(w, strings.ToUpper(line))
					rc.Flush()
				}
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			rb := bufio.NewReader(resp.Body)
			var out []string
			for i := range 3 {
				fmt.Fprintf(c, "6\r\nline%d\n\r\n", i)
				l, err := rb.ReadString('\n')
				out = append(out, l, errDesc(err))
			}
			io.WriteString(c, "0\r\n\r\n")
			rest, err := io.ReadAll(rb)
			return append(out, string(rest), errDesc(err))
		}},
		{"rcReadDeadline", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				start := time.Now()
				rc.SetReadDeadline(start.Add(100 * time.Millisecond))
				_, err := io.ReadAll(r.Body)
				res <- errDesc(err) + " " + within(time.Since(start), 80*time.Millisecond, 2*time.Second)
				w.WriteHeader(400)
			}), func(s *http.Server) { s.ReadTimeout = 10 * time.Second })
			c, br := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
			r := <-res
			resp, err := http.ReadResponse(br, nil)
			s := errDesc(err)
			if err == nil {
				s = resp.Status
			}
			return []string{r, s}
		}},
		{"rcWriteDeadline", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rc := http.NewResponseController(w)
				// The clock starts when the deadline is set, and the
				// chunk is made before: a 1 MiB allocation between the
				// two (a GC assist under -race on a loaded machine) once
				// took more than 50 ms and read as an early timeout.
				chunk := make([]byte, 1<<20)
				start := time.Now()
				rc.SetWriteDeadline(start.Add(200 * time.Millisecond))
				var err error
				for i := 0; i < 256 && err == nil; i++ {
					_, err = w.Write(chunk)
				}
				res <- errDesc(err) + " " + within(time.Since(start), 150*time.Millisecond, 3*time.Second)
			}), nil)
			c, _ := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			return []string{<-res}
		}},
		{"connContextAndStates", func(t *testing.T, st revStack) []string {
			var mu sync.Mutex
			var states []string
			type key struct{}
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				v, _ := r.Context().Value(key{}).(string)
				la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
				fmt.Fprintf(w, "%s %T", v, la)
			}), func(s *http.Server) {
				s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
					return context.WithValue(ctx, key{}, fmt.Sprintf("%T", c.RemoteAddr()))
				}
				s.ConnState = func(c net.Conn, s http.ConnState) {
					mu.Lock()
					states = append(states, s.String())
					mu.Unlock()
				}
			})
			c, br := revRaw(t, ln)
			var out []string
			for range 2 {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return []string{errDesc(err)}
				}
				b, _ := io.ReadAll(resp.Body)
				out = append(out, string(b))
			}
			c.Close()
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				n := len(states)
				mu.Unlock()
				if n >= 6 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			return append(out, strings.Join(states, ","))
		}},
		{"shutdownActiveAndIdle", func(t *testing.T, st revStack) []string {
			release := make(chan struct{})
			entered := make(chan struct{}, 1)
			srv, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					entered <- struct{}{}
					<-release
				}
				io.WriteString(w, "done")
			}), nil)
			idle, ibr := revRaw(t, ln)
			if _, _, err := revGet(idle, ibr); err != nil {
				return []string{errDesc(err)}
			}
			act, abr := revRaw(t, ln)
			io.WriteString(act, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
			<-entered
			sd := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				sd <- srv.Shutdown(ctx)
			}()
			_, err := ibr.ReadByte()
			out := []string{"idle:" + errDesc(err)}
			_, err = net.DialTimeout("tcp", ln.Addr().String(), time.Second)
			out = append(out, fmt.Sprint("dialAfterShutdown:", err != nil))
			close(release)
			resp, err := http.ReadResponse(abr, nil)
			if err != nil {
				return append(out, errDesc(err))
			}
			b, _ := io.ReadAll(resp.Body)
			_, err = abr.ReadByte()
			return append(out, string(b), fmt.Sprint(resp.Close), errDesc(err), errDesc(<-sd))
		}},
		{"serverCloseBlockedWrite", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			started := make(chan struct{}, 1)
			srv, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 1<<20)
				started <- struct{}{}
				var err error
				for i := 0; i < 512 && err == nil; i++ {
					_, err = w.Write(chunk)
				}
				res <- errDesc(err)
			}), nil)
			c, _ := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			<-started
			time.Sleep(200 * time.Millisecond)
			start := time.Now()
			srv.Close()
			r := <-res
			return []string{r, within(time.Since(start), 0, 2*time.Second)}
		}},
		{"pipelinedWithBody", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s:%s", r.URL.Path, b)
			}), nil)
			c, br := revRaw(t, ln)
			var req strings.Builder
			for i := range 5 {
				fmt.Fprintf(&req, "POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nb%02d", i, i)
			}
			req.WriteString("GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			io.WriteString(c, req.String())
			var out []string
			for range 6 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return append(out, errDesc(err))
				}
				b, _ := io.ReadAll(resp.Body)
				out = append(out, string(b))
			}
			_, err := br.ReadByte()
			return append(out, errDesc(err))
		}},
		{"readHeaderTimeoutThenIdle", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(hello), func(s *http.Server) {
				s.ReadHeaderTimeout = 200 * time.Millisecond
				s.IdleTimeout = 2 * time.Second
			})
			c, br := revRaw(t, ln)
			if _, _, err := revGet(c, br); err != nil {
				return []string{errDesc(err)}
			}
			// Idle longer than ReadHeaderTimeout but shorter than IdleTimeout:
			// the conn stays usable.
			time.Sleep(500 * time.Millisecond)
			resp, _, err := revGet(c, br)
			if err != nil {
				return []string{"second: " + errDesc(err)}
			}
			return []string{resp.Status}
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			revCompareOn(t, revHTTPStacks(), s.f)
		})
	}
}

var _ = errors.Is
