package nethttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestAsGoDialerUringBackend: a Dialer whose Options pick the io_uring
// backend panics (index out of range) instead of dialing or returning an
// error; Go's net.Dialer never panics on a dial.
func TestAsGoDialerUringBackend(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	d := &Dialer{Options: []netpoll.Option{netpoll.WithBackend(netpoll.BackendUring)}}
	var c net.Conn
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err = d.DialContext(ctx, "tcp", ln.Addr().String())
	}()
	if c != nil {
		c.Close()
	}
	if err != nil && err.Error()[:6] == "panic:" {
		t.Fatalf("Dialer{Options: WithBackend(BackendUring)}.DialContext: %v", err)
	}
	// Dialing on io_uring, or a plain error where the system has none,
	// are both fine.
	t.Logf("dial: %v", err)
}

func TestAsGoDialerMatrix(t *testing.T) {
	type sc struct {
		name string
		f    func(t *testing.T, st revStack) []string
	}
	scenarios := []sc{
		{"refused", func(t *testing.T, st revStack) []string {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			addr := ln.Addr().String()
			ln.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			c, err := st.dial(ctx, addr)
			if c != nil {
				c.Close()
			}
			var oe *net.OpError
			s := errDesc(err)
			if ok := asOp(err, &oe); ok {
				s += fmt.Sprintf(" addr=%T", oe.Addr)
			}
			return []string{s, fmt.Sprint(isRefused(err))}
		}},
		{"cancelledCtx", func(t *testing.T, st revStack) []string {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			c, err := st.dial(ctx, "127.0.0.1:1")
			if c != nil {
				c.Close()
			}
			return []string{errDesc(err), fmt.Sprint(isCanceled(err)), fmt.Sprint(err)}
		}},
		{"expiredCtx", func(t *testing.T, st revStack) []string {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			c, err := st.dial(ctx, "127.0.0.1:1")
			if c != nil {
				c.Close()
			}
			return []string{errDesc(err), fmt.Sprint(errors.Is(err, context.DeadlineExceeded)), fmt.Sprint(err)}
		}},
		{"transportIdleClosedByServer", func(t *testing.T, st revStack) []string {
			var conns atomic.Int32
			srv := &http.Server{
				Handler:     http.HandlerFunc(hello),
				IdleTimeout: 100 * time.Millisecond,
				ConnState: func(c net.Conn, s http.ConnState) {
					if s == http.StateNew {
						conns.Add(1)
					}
				},
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			go srv.Serve(ln)
			defer srv.Close()
			tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return st.dial(ctx, a) }}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var out []string
			for i := range 3 {
				resp, err := cl.Get("http://" + ln.Addr().String() + "/x")
				if err != nil {
					out = append(out, errDesc(err))
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out = append(out, string(b))
				if i < 2 {
					time.Sleep(300 * time.Millisecond)
				}
			}
			return append(out, fmt.Sprint(conns.Load()))
		}},
		{"transportReuse", func(t *testing.T, st revStack) []string {
			var conns atomic.Int32
			srv := &http.Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					fmt.Fprintf(w, "%d", len(b))
				}),
				ConnState: func(c net.Conn, s http.ConnState) {
					if s == http.StateNew {
						conns.Add(1)
					}
				},
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			go srv.Serve(ln)
			defer srv.Close()
			tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return st.dial(ctx, a) }}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var out []string
			for _, size := range []int{0, 10, 1 << 20, 5 << 20} {
				resp, err := cl.Post("http://"+ln.Addr().String()+"/", "x", bytes.NewReader(make([]byte, size)))
				if err != nil {
					out = append(out, errDesc(err))
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				out = append(out, string(b))
			}
			return append(out, fmt.Sprint(conns.Load()))
		}},
		{"transportEarlyReject", func(t *testing.T, st revStack) []string {
			srv := &http.Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Connection", "close")
					w.WriteHeader(http.StatusRequestEntityTooLarge)
				}),
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			go srv.Serve(ln)
			defer srv.Close()
			tr := &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return st.dial(ctx, a) }}
			defer tr.CloseIdleConnections()
			cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			resp, err := cl.Post("http://"+ln.Addr().String()+"/", "x", io.LimitReader(zeroReader{}, 64<<20))
			if err != nil {
				return []string{"err"}
			}
			resp.Body.Close()
			return []string{resp.Status}
		}},
	}
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			revCompare(t, func(t *testing.T, st revStack) []string {
				return s.f(t, st)
			})
		})
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
