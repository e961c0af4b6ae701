package nethttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// expectServerClose reads from c until the server closes it, and returns
// how long that took from start. It fails if the server sends anything
// other than, optionally, one error response.
func expectServerClose(t *testing.T, c io.Reader, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, c)
		errc <- err
	}()
	select {
	case <-errc:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("server did not close the conn within %v", limit)
		return 0
	}
}

// TestSlowloris trickles request headers a byte a second: ReadHeaderTimeout
// must cut the client off although it never stops sending.
func TestSlowloris(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		const timeout = 1500 * time.Millisecond
		e := newHTTPEnv(t, st, http.HandlerFunc(hello), func(s *http.Server) {
			s.ReadHeaderTimeout = timeout
		})
		// Every clock here starts before the event that starts the
		// server's timer (the dial, the request), so a cut-off before
		// the timeout means the server fired early, never that this
		// goroutine was scheduled late.
		start := time.Now()
		c, br := e.raw()
		go func() {
			req := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("z", 60) + "\r\n\r\n"
			for i := range len(req) {
				if _, err := io.WriteString(c, req[i:i+1]); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		d := expectServerClose(t, br, start, 10*time.Second)
		if d < timeout-100*time.Millisecond || d > timeout+3*time.Second {
			t.Fatalf("slowloris cut off after %v, want about %v", d, timeout)
		}
		if !testutil.WaitFor(5*time.Second, func() bool { return e.closed.Load() == 1 }) {
			t.Fatalf("server closed %d conns, want 1", e.closed.Load())
		}
	})
}

// TestReadTimeout stalls half-way through a request body: the handler's
// body Read must fail with the deadline error once ReadTimeout passes.
func TestReadTimeout(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		const timeout = 400 * time.Millisecond
		bodyErr := make(chan error, 1)
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			bodyErr <- err
		}), func(s *http.Server) { s.ReadTimeout = timeout })
		start := time.Now() // ReadTimeout runs from the accept
		c, _ := e.raw()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly part")
		select {
		case err := <-bodyErr:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("body read error = %v, want a deadline error", err)
			}
			if d := time.Since(start); d < timeout-50*time.Millisecond || d > timeout+3*time.Second {
				t.Fatalf("body read failed after %v, want about %v", d, timeout)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("ReadTimeout never fired")
		}
	})
}

// TestWriteTimeout has the handler write far more than the client reads:
// its blocked Write must fail once WriteTimeout passes.
func TestWriteTimeout(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		const timeout = 500 * time.Millisecond
		writeErr := make(chan error, 1)
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			chunk := make([]byte, 1<<20)
			for range 512 {
				if _, err := w.Write(chunk); err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- nil
		}), func(s *http.Server) { s.WriteTimeout = timeout })
		c, _ := e.raw()
		start := time.Now()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case err := <-writeErr:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("handler write error = %v, want a deadline error", err)
			}
			if d := time.Since(start); d < timeout-50*time.Millisecond || d > timeout+3*time.Second {
				t.Fatalf("write failed after %v, want about %v", d, timeout)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("WriteTimeout never fired")
		}
	})
}

// TestIdleTimeout checks that an idle keep-alive conn is closed once
// IdleTimeout passes after its last response.
func TestIdleTimeout(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		const timeout = 400 * time.Millisecond
		e := newHTTPEnv(t, st, http.HandlerFunc(hello), func(s *http.Server) { s.IdleTimeout = timeout })
		c, br := e.raw()
		start := time.Now() // the idle timer starts after this request
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		d := expectServerClose(t, br, start, 10*time.Second)
		if d < timeout-50*time.Millisecond || d > timeout+3*time.Second {
			t.Fatalf("idle conn closed after %v, want about %v", d, timeout)
		}
	})
}

// TestContextCancelledOnDisconnect checks that a handler learns of the
// client hanging up through its request context.
func TestContextCancelledOnDisconnect(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		started, ctxErr := make(chan struct{}), make(chan error, 1)
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			select {
			case <-r.Context().Done():
				ctxErr <- r.Context().Err()
			case <-time.After(10 * time.Second):
				ctxErr <- errors.New("context not cancelled within 10s")
			}
		}), nil)
		c, _ := e.raw()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("handler did not start")
		}
		start := time.Now()
		c.Close()
		if err := <-ctxErr; !errors.Is(err, context.Canceled) {
			t.Fatalf("request context: %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("context cancelled %v after the client left", d)
		}
	})
}
