package nethttp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// TestReview15bHTTPAsGo runs net/http scenarios that the other matrices
// leave out on Go's listener and on each upoll stack, with and without
// parking, and fails on any difference in what the handler and the
// client observe, or on goroutines or descriptors left behind: a second
// Serve on a closed listener; a request line sent byte by byte under
// ReadHeaderTimeout; IdleTimeout, and ReadTimeout alone, on an idle
// conn; a partial header after an idle period; Flush of a chunked
// response; CloseNotify; an 8 MB body behind Expect: 100-continue;
// Shutdown with a half-sent request; a hijacked conn under ReadTimeout;
// TLS over the listener with a silent client; Unix sockets (addresses,
// the socket file, abstract names, a stale or busy path); what a client
// sees past WriteTimeout, and after ResponseController extends it;
// Server.Close with an idle conn and with a handler blocked reading its
// body; Shutdown beside a hijacked conn; a 20 MB body through a 64 KiB
// MaxInput; a short Content-Length; a client that leaves mid-response;
// a half-close after an idle period; Hijack after part of the body was
// read; MaxBytesReader against a 10 MB upload; HTTP/2 IdleTimeout and
// Shutdown; and, on the Dialer's side, a request cancelled mid-body and
// HTTP/2 uploads over TLS.
//
// No outcome depends on where a timeout lands: each timeout is at least
// five times shorter, or longer, than the delays it is compared with,
// or the outcome is the same on either side of it, and the scenarios
// wait for events (a handler entered, a connection closed) where a
// sleep would race. A bound of within() is at most a fifth of the
// timeout it checks from below and at least five times it from above.
func TestReview15bHTTPAsGo(t *testing.T) {
	type sc struct {
		name string
		f    func(t *testing.T, st revStack) []string
	}
	scenarios := []sc{
		{"secondServeClosed", func(t *testing.T, st revStack) []string {
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(hello), ErrorLog: log.New(io.Discard, "", 0)}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			time.Sleep(50 * time.Millisecond)
			ln.Close()
			e1 := <-done
			srv2 := &http.Server{Handler: http.HandlerFunc(hello)}
			e2 := srv2.Serve(ln)
			return []string{errDesc(e1), errDesc(e2), fmt.Sprint(ln.Addr() != nil)}
		}},
		{"headerByteByByte", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(hello), func(s *http.Server) { s.ReadHeaderTimeout = 300 * time.Millisecond })
			c, br := revRaw(t, ln)
			// The timeout lands inside the request line, which takes
			// 4 s to send after its first 5 bytes: net/http then
			// parses the part it has, with no second space, as a
			// malformed request and answers 400, wherever in the line
			// the timeout lands. (In the header lines the answer
			// depends on the place: after a line's end or inside a
			// name it closes silently, inside a value it answers 400.)
			req := "GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\nHost: x\r\n\r\n"
			if _, err := io.WriteString(c, req[:5]); err != nil {
				return []string{errDesc(err)}
			}
			// The server answers before the header is complete: read
			// while writing, and stop writing once it has.
			type line struct {
				s   string
				err error
				d   time.Duration
			}
			got := make(chan line, 1)
			start := time.Now()
			go func() {
				s, err := br.ReadString('\n')
				got <- line{s, err, time.Since(start)}
			}()
			var l line
			var werr error
		write:
			for i := 5; i < len(req) && werr == nil; i++ {
				_, werr = c.Write([]byte{req[i]})
				select {
				case l = <-got:
					break write
				case <-time.After(20 * time.Millisecond):
				}
			}
			if l.s == "" && l.err == nil {
				select {
				case l = <-got:
				case <-time.After(10 * time.Second):
					return []string{"no answer"}
				}
			}
			return []string{strings.TrimSpace(l.s), errDesc(l.err), within(l.d, 60*time.Millisecond, 3*time.Second)}
		}},
		{"idleTimeout", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(hello), func(s *http.Server) { s.IdleTimeout = 300 * time.Millisecond })
			c, br := revRaw(t, ln)
			if _, _, err := revGet(c, br); err != nil {
				return []string{errDesc(err)}
			}
			return revEnd(br, 60*time.Millisecond, 3*time.Second)
		}},
		{"flushChunked", func(t *testing.T, st revStack) []string {
			release := make(chan struct{})
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "first")
				if err := http.NewResponseController(w).Flush(); err != nil {
					io.WriteString(w, err.Error())
				}
				<-release
				io.WriteString(w, "second")
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				close(release)
				return []string{errDesc(err)}
			}
			b := make([]byte, 5)
			_, err = io.ReadFull(resp.Body, b)
			close(release)
			rest, err2 := io.ReadAll(resp.Body)
			return []string{fmt.Sprint(resp.TransferEncoding), string(b), errDesc(err), string(rest), errDesc(err2)}
		}},
		{"closeNotify", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				//lint:ignore SA1019 CloseNotifier is under test
				cn := w.(http.CloseNotifier).CloseNotify()
				select {
				case <-cn:
					res <- "notified " + fmt.Sprint(r.Context().Err())
				case <-time.After(3 * time.Second):
					res <- "not notified"
				}
			}), nil)
			c, _ := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			time.Sleep(100 * time.Millisecond)
			c.Close()
			return []string{recvWithin(res, 10*time.Second)}
		}},
		{"expectContinueBig", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				fmt.Fprint(w, n, err)
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 8000000\r\n\r\n")
			line, _ := br.ReadString('\n')
			br.ReadString('\n')
			go c.Write(make([]byte, 8000000))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{line, errDesc(err)}
			}
			b, _ := io.ReadAll(resp.Body)
			return []string{line, string(b)}
		}},
		{"shutdownNewConn", func(t *testing.T, st revStack) []string {
			srv, ln := revServe(t, st, http.HandlerFunc(hello), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HT")
			time.Sleep(100 * time.Millisecond)
			// The conn is StateNew until its request is read, and
			// Shutdown closes such a conn only once it is 5 s old:
			// the context ends first whatever its length.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			err := srv.Shutdown(ctx)
			io.WriteString(c, "TP/1.1\r\nHost: x\r\n\r\n")
			resp, rerr := http.ReadResponse(br, nil)
			s := errDesc(rerr)
			if rerr == nil {
				s = resp.Status + fmt.Sprint(resp.Close)
			}
			return []string{errDesc(err), s}
		}},
		{"hijackReadTimeout", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					res <- err.Error()
					return
				}
				defer c.Close()
				_, err = c.Read(make([]byte, 1))
				res <- errDesc(err)
			}), func(s *http.Server) { s.ReadTimeout = 100 * time.Millisecond })
			// A ReadTimeout left on the hijacked conn would end its
			// Read with a timeout 100 ms after the request, well
			// before the client's close makes it io.EOF.
			c, _ := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			time.Sleep(500 * time.Millisecond)
			c.Close()
			return []string{recvWithin(res, 10*time.Second)}
		}},
		{"tlsListenerSilentClient", func(t *testing.T, st revStack) []string {
			serverTLS, _ := selfSignedTLS(t)
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			tln := tls.NewListener(ln, serverTLS)
			serveOn(t, &http.Server{Handler: http.HandlerFunc(hello), ReadTimeout: 300 * time.Millisecond}, tln)
			_, br := revRaw(t, ln)
			return revEnd(br, 60*time.Millisecond, 3*time.Second)
		}},
		{"unixRemoteAddr", func(t *testing.T, st revStack) []string {
			p := t.TempDir() + "/s"
			ln, err := revListenUnix(st, p)
			if err != nil {
				t.Fatal(err)
			}
			serveOn(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
				fmt.Fprintf(w, "%q %q %T %v", r.RemoteAddr, r.Host, la, la != nil && la.String() == p)
			})}, ln)
			c, err := net.Dial("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			b, _ := io.ReadAll(resp.Body)
			return []string{string(b)}
		}},
		{"unixLifecycle", func(t *testing.T, st revStack) []string {
			p := t.TempDir() + "/s"
			ln, err := revListenUnix(st, p)
			if err != nil {
				t.Fatal(err)
			}
			out := []string{ln.Addr().Network() + " " + fmt.Sprint(ln.Addr().String() == p)}
			ln.Close()
			_, err = os.Stat(p)
			out = append(out, "statAfterClose:"+fmt.Sprint(os.IsNotExist(err)))
			ln2, err := revListenUnix(st, p)
			out = append(out, "relisten:"+fmt.Sprint(err == nil))
			if err == nil {
				ln2.Close()
			}
			return out
		}},
		{"writeTimeoutClientView", func(t *testing.T, st revStack) []string {
			// The write deadline is set before the handler runs: the
			// handler's write comes at least 200 ms after it.
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(300 * time.Millisecond)
				io.WriteString(w, "late")
			}), func(s *http.Server) { s.WriteTimeout = 100 * time.Millisecond })
			c, br := revRaw(t, ln)
			start := time.Now()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			b, err := io.ReadAll(br)
			return []string{fmt.Sprintf("%q", b), errDesc(err), within(time.Since(start), 300*time.Millisecond, 3*time.Second)}
		}},
		{"serverCloseIdle", func(t *testing.T, st revStack) []string {
			srv, ln := revServe(t, st, http.HandlerFunc(hello), nil)
			c, br := revRaw(t, ln)
			if _, _, err := revGet(c, br); err != nil {
				return []string{errDesc(err)}
			}
			start := time.Now()
			srv.Close()
			_, err := br.ReadByte()
			return []string{errDesc(err), within(time.Since(start), 0, 3*time.Second)}
		}},
		{"rcExtendWriteDeadline", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.NewResponseController(w).SetWriteDeadline(time.Now().Add(3 * time.Second))
				time.Sleep(300 * time.Millisecond)
				io.WriteString(w, "late")
			}), func(s *http.Server) { s.WriteTimeout = 100 * time.Millisecond })
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			b, err := io.ReadAll(br)
			return []string{fmt.Sprintf("%.12q", b), errDesc(err)}
		}},
		{"hijackThenShutdown", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			srv, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, brw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					res <- err.Error()
					return
				}
				brw.WriteString("hi\n")
				brw.Flush()
				go func() {
					defer c.Close()
					b := make([]byte, 10)
					n, err := brw.Read(b)
					res <- fmt.Sprintf("%q %s", b[:n], errDesc(err))
				}()
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			line, _ := br.ReadString('\n')
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			err := srv.Shutdown(ctx)
			io.WriteString(c, "after")
			return []string{line, errDesc(err), recvWithin(res, 10*time.Second)}
		}},
		{"bigBodySmallMaxInput", func(t *testing.T, st revStack) []string {
			var ln net.Listener
			var err error
			if st.name == "go" {
				ln, err = net.Listen("tcp", "127.0.0.1:0")
			} else {
				ln, err = Listen("tcp", "127.0.0.1:0", backendOf(st), netpoll.WithMaxInput(64<<10))
			}
			if err != nil {
				t.Fatal(err)
			}
			serveOn(t, &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, err := io.Copy(io.Discard, r.Body)
				fmt.Fprint(w, n, err)
			})}, ln)
			c, br := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n")
			go c.Write(make([]byte, 20000000))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			b, _ := io.ReadAll(resp.Body)
			return []string{string(b)}
		}},
		{"contentLengthShort", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "10")
				io.WriteString(w, "abc")
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return []string{errDesc(err)}
			}
			b, err := io.ReadAll(resp.Body)
			return []string{string(b), errDesc(err)}
		}},
		{"clientGoneWriteErr", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				chunk := make([]byte, 32<<10)
				var err error
				start := time.Now()
				i := 0
				for ; i < 100000 && err == nil && time.Since(start) < 3*time.Second; i++ {
					_, err = w.Write(chunk)
				}
				res <- fmt.Sprint(err != nil, " ", within(time.Since(start), 0, 2500*time.Millisecond))
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			br.ReadString('\n')
			c.Close()
			return []string{recvWithin(res, 10*time.Second)}
		}},
		{"idleThenHalfClose", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(hello), nil)
			c, br := revRaw(t, ln)
			var out []string
			for i := range 2 {
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				if i == 1 {
					c.(*net.TCPConn).CloseWrite()
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return append(out, errDesc(err))
				}
				b, _ := io.ReadAll(resp.Body)
				out = append(out, string(b))
				time.Sleep(100 * time.Millisecond)
			}
			_, err := br.ReadByte()
			return append(out, errDesc(err))
		}},
		{"idleReadTimeoutOnly", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(hello), func(s *http.Server) { s.ReadTimeout = 300 * time.Millisecond })
			c, br := revRaw(t, ln)
			if _, _, err := revGet(c, br); err != nil {
				return []string{errDesc(err)}
			}
			return revEnd(br, 60*time.Millisecond, 3*time.Second)
		}},
		{"idleThenPartialHeaderTimeout", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(hello), func(s *http.Server) { s.ReadHeaderTimeout = 300 * time.Millisecond; s.IdleTimeout = 5 * time.Second })
			c, br := revRaw(t, ln)
			if _, _, err := revGet(c, br); err != nil {
				return []string{errDesc(err)}
			}
			time.Sleep(100 * time.Millisecond)
			io.WriteString(c, "GET / HT")
			start := time.Now()
			b, err := io.ReadAll(br)
			return []string{fmt.Sprintf("%.20q", b), errDesc(err), within(time.Since(start), 60*time.Millisecond, 3*time.Second)}
		}},
		{"dialerClientCancelMidBody", func(t *testing.T, st revStack) []string {
			if st.park {
				return nil // the server is Go's: parking is not used
			}
			release := make(chan struct{})
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write(make([]byte, 100))
				w.(http.Flusher).Flush()
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}), ErrorLog: log.New(io.Discard, "", 0)}
			go hs.Serve(ln)
			defer hs.Close()
			defer close(release)
			tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return st.dial(ctx, a) }}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr}
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+ln.Addr().String()+"/", nil)
			resp, err := cl.Do(req)
			if err != nil {
				cancel()
				return []string{errDesc(err)}
			}
			b := make([]byte, 100)
			_, err = io.ReadFull(resp.Body, b)
			out := []string{errDesc(err)}
			// The cancel comes at least 100 ms after start.
			start := time.Now()
			go func() { time.Sleep(100 * time.Millisecond); cancel() }()
			_, err = resp.Body.Read(b)
			out = append(out, fmt.Sprint(err), within(time.Since(start), 50*time.Millisecond, 3*time.Second))
			resp.Body.Close()
			return out
		}},
		{"dialerTLSh2", func(t *testing.T, st revStack) []string {
			if st.park {
				return nil // the server is Go's: parking is not used
			}
			serverTLS, clientTLS := selfSignedTLS(t)
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				fmt.Fprint(w, r.Proto, len(b))
			}), TLSConfig: serverTLS, ErrorLog: log.New(io.Discard, "", 0)}
			go hs.ServeTLS(ln, "", "")
			defer hs.Close()
			tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return st.dial(ctx, a) }, TLSClientConfig: clientTLS, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			var out []string
			for range 3 {
				resp, err := cl.Post("https://"+ln.Addr().String()+"/", "x", strings.NewReader(strings.Repeat("z", 1<<20)))
				if err != nil {
					out = append(out, errDesc(err))
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out = append(out, string(b))
			}
			return out
		}},
		{"serverCloseBlockedRead", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			entered := make(chan struct{}, 1)
			srv, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				entered <- struct{}{}
				n, err := io.Copy(io.Discard, r.Body)
				res <- fmt.Sprint(n, " ", errDesc(err))
			}), nil)
			c, br := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				return []string{"handler not entered"}
			}
			// Whether the handler's read is blocked yet or comes after
			// the Close, it fails as closed; the conn stays active, so
			// Shutdown's context ends first whatever its length.
			time.Sleep(100 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			e1 := srv.Shutdown(ctx)
			start := time.Now()
			srv.Close()
			r := recvWithin(res, 10*time.Second)
			_, err := br.ReadByte()
			return []string{errDesc(e1), r, within(time.Since(start), 0, 3*time.Second), errDesc(err)}
		}},
		{"hijackAfterBodyPartRead", func(t *testing.T, st revStack) []string {
			res := make(chan string, 1)
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b := make([]byte, 3)
				io.ReadFull(r.Body, b)
				c, brw, err := w.(http.Hijacker).Hijack()
				if err != nil {
					res <- "hijack: " + err.Error()
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				rest := make([]byte, brw.Reader.Buffered())
				brw.Read(rest)
				res <- fmt.Sprintf("%q %q", b, rest)
			}), nil)
			c, _ := revRaw(t, ln)
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabcdefXYZ")
			return []string{recvWithin(res, 10*time.Second)}
		}},
		{"maxBytesReaderBig", func(t *testing.T, st revStack) []string {
			_, ln := revServe(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Body = http.MaxBytesReader(w, r.Body, 1024)
				if _, err := io.ReadAll(r.Body); err != nil {
					http.Error(w, "too big", http.StatusRequestEntityTooLarge)
					return
				}
				io.WriteString(w, "ok")
			}), nil)
			var out []string
			for range 3 {
				c, br := revRaw(t, ln)
				io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
				werr := make(chan error, 1)
				go func() { _, err := c.Write(make([]byte, 10000000)); werr <- err }()
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					out = append(out, errDesc(err))
					c.Close()
					<-werr
					continue
				}
				b, err := io.ReadAll(resp.Body)
				out = append(out, resp.Status+" "+strings.TrimSpace(string(b))+" "+errDesc(err))
				c.Close()
				<-werr
			}
			return out
		}},
		{"h2IdleTimeoutAndShutdown", func(t *testing.T, st revStack) []string {
			if st.park {
				return nil
			}
			serverTLS, clientTLS := selfSignedTLS(t)
			ln, err := st.listen()
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var states []string
			closed := 0
			// /slow is in its handler when Shutdown begins and ends
			// after it began (shutdownBegun): the stream is in flight.
			slowEntered := make(chan struct{}, 1)
			shutdownBegun := make(chan struct{})
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/slow" {
					slowEntered <- struct{}{}
					select {
					case <-shutdownBegun:
					case <-time.After(5 * time.Second):
					}
				}
				fmt.Fprint(w, r.Proto)
			}), TLSConfig: serverTLS, IdleTimeout: 300 * time.Millisecond, ErrorLog: log.New(io.Discard, "", 0),
				ConnState: func(c net.Conn, s http.ConnState) {
					mu.Lock()
					states = append(states, s.String())
					if s == http.StateClosed {
						closed++
					}
					mu.Unlock()
				}}
			srv.RegisterOnShutdown(func() { close(shutdownBegun) })
			done := make(chan error, 1)
			go func() { done <- srv.ServeTLS(ln, "", "") }()
			tr := &http.Transport{TLSClientConfig: clientTLS, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var out []string
			get := func(p string) {
				resp, err := cl.Get("https://" + ln.Addr().String() + p)
				if err != nil {
					out = append(out, errDesc(err))
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out = append(out, string(b))
			}
			get("/")
			// The idle timeout closes the first conn; the next GET
			// needs a new one. Wait for the close rather than sleep
			// past the timeout.
			if !testutil.WaitFor(5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return closed == 1 }) {
				out = append(out, "idle conn not closed")
			}
			get("/")
			sd := make(chan error, 1)
			go func() {
				select {
				case <-slowEntered:
				case <-time.After(5 * time.Second):
				}
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				sd <- srv.Shutdown(ctx)
			}()
			get("/slow")
			out = append(out, recvErrWithin(sd, 10*time.Second), recvErrWithin(done, 10*time.Second))
			// Serve returns before the conns' goroutines end.
			testutil.WaitFor(5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return closed == 2 })
			mu.Lock()
			out = append(out, strings.Join(states, ","))
			mu.Unlock()
			return out
		}},
		{"unixAbstractAndStale", func(t *testing.T, st revStack) []string {
			var out []string
			name := fmt.Sprintf("@upoll-review15b-%d-%s", os.Getpid(), st.name)
			ln, err := revListenUnix(st, name)
			if err != nil {
				out = append(out, "abstract: "+err.Error())
			} else {
				out = append(out, "abstract: "+fmt.Sprint(ln.Addr().String() == name))
				c, err := net.Dial("unix", name)
				out = append(out, "dial: "+fmt.Sprint(err == nil))
				if err == nil {
					c.Close()
				}
				ln.Close()
			}
			p := t.TempDir() + "/stale"
			os.WriteFile(p, nil, 0o600)
			ln, err = revListenUnix(st, p)
			if err == nil {
				ln.Close()
			}
			out = append(out, "stale: "+errDesc(err))
			ln1, err := revListenUnix(st, t.TempDir()+"/busy")
			if err != nil {
				t.Fatal(err)
			}
			_, err = revListenUnix(st, ln1.Addr().String())
			out = append(out, "busy: "+errDesc(err))
			ln1.Close()
			return out
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			revCompareOn(t, revHTTPStacks(), leakFree(s.f))
		})
	}
}

// backendOf is the option that selects st's backend; nil for Go's net.
func backendOf(st revStack) netpoll.Option {
	for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		if strings.HasPrefix(st.name, b.String()) {
			return netpoll.WithBackend(b)
		}
	}
	return nil
}

// revListenUnix listens on the Unix socket path with st's stack.
func revListenUnix(st revStack, path string) (net.Listener, error) {
	if st.name == "go" {
		return net.Listen("unix", path)
	}
	return Listen("unix", path, backendOf(st))
}

// TestReview15bWriteTimeoutResume: a Write that times out with part of
// its bytes taken, then a Write of the rest under a later deadline, give
// the peer the stream intact, as Go's conn does.
func TestReview15bWriteTimeoutResume(t *testing.T) {
	// More than the socket buffers of both ends (tcp_rmem's maximum is
	// 32 MiB here) and upoll's write-behind take: the first Write
	// times out.
	const total = 48 << 20
	var pat []byte // made on the first stack's run: none runs where revCompare skips
	revCompare(t, leakFree(func(t *testing.T, st revStack) []string {
		if pat == nil {
			pat = make([]byte, total)
			for i := range pat {
				pat[i] = byte(i * 7 / 5)
			}
		}
		srv, peer := revPair(t, st)
		srv.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := srv.Write(pat)
		out := []string{errDesc(err), fmt.Sprint(n < total)}
		got := make(chan []byte, 1)
		go func() {
			b := bytes.NewBuffer(make([]byte, 0, total+bytes.MinRead))
			b.ReadFrom(peer)
			got <- b.Bytes()
		}()
		srv.SetWriteDeadline(time.Now().Add(10 * time.Second))
		n2, err := srv.Write(pat[n:])
		out = append(out, errDesc(err), fmt.Sprint(n+n2 == total))
		srv.Close()
		var b []byte
		select {
		case b = <-got:
		case <-time.After(20 * time.Second):
			t.Errorf("%s: the peer saw no end within 20s", st.name)
		}
		ok := len(b) == total && string(b) == string(pat)
		if !ok {
			first := -1
			for i := range min(len(b), total) {
				if b[i] != pat[i] {
					first = i
					break
				}
			}
			t.Logf("%s: n=%d len=%d firstdiff=%d", st.name, n, len(b), first)
		}
		return append(out, fmt.Sprint("intact:", ok))
	}))
}

// recvWithin returns what ch gives within d, or says that nothing came.
func recvWithin(ch <-chan string, d time.Duration) string {
	select {
	case s := <-ch:
		return s
	case <-time.After(d):
		return fmt.Sprintf("nothing within %v", d)
	}
}

// recvErrWithin is recvWithin for an error, described by errDesc.
func recvErrWithin(ch <-chan error, d time.Duration) string {
	select {
	case err := <-ch:
		return errDesc(err)
	case <-time.After(d):
		return fmt.Sprintf("nothing within %v", d)
	}
}
