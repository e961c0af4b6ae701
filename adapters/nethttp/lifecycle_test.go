package nethttp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestShutdownWaitsForInFlight starts requests whose handlers are still
// running when Shutdown is called: every one must complete with a full
// response, and Shutdown must return only after they have.
func TestShutdownWaitsForInFlight(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		const n = 10
		var started sync.WaitGroup
		started.Add(n)
		var finished atomic.Int64
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/idle" {
				return
			}
			started.Done()
			time.Sleep(300 * time.Millisecond)
			io.WriteString(w, "done "+r.URL.Path)
			finished.Add(1)
		}), nil)
		// An idle keep-alive conn too: Shutdown must close it, not wait on it.
		idle, br := e.raw()
		io.WriteString(idle, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}

		results := make(chan error, n)
		for i := range n {
			go func() {
				path := fmt.Sprintf("/r%d", i)
				resp, err := e.client.Get(e.url + path)
				if err != nil {
					results <- err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && string(body) != "done "+path {
					err = fmt.Errorf("body %q", body)
				}
				results <- err
			}()
		}
		testutil.WaitGroup(t, &started, testDeadline, "the handlers to start")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if got := finished.Load(); got != n {
			t.Fatalf("Shutdown returned with %d of %d handlers finished", got, n)
		}
		for range n {
			if err := <-results; err != nil {
				t.Errorf("in-flight request: %v", err)
			}
		}
		if _, err := br.ReadByte(); err == nil {
			t.Error("idle conn still open after Shutdown")
		}
		if _, err := e.client.Get(e.url + "/late"); err == nil {
			t.Error("request after Shutdown succeeded")
		}
	})
}

// TestServerClose checks that Close ends in-flight requests at once: the
// handlers' contexts are cancelled and the clients see errors.
func TestServerClose(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		const n = 5
		var started sync.WaitGroup
		started.Add(n)
		cancelled := make(chan error, n)
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			started.Done()
			select {
			case <-r.Context().Done():
				cancelled <- nil
			case <-time.After(10 * time.Second):
				cancelled <- errors.New("handler context not cancelled by Server.Close")
			}
		}), nil)
		clientErr := make(chan error, n)
		for range n {
			go func() {
				resp, err := e.client.Get(e.url)
				if err == nil {
					resp.Body.Close()
				}
				clientErr <- err
			}()
		}
		testutil.WaitGroup(t, &started, testDeadline, "the handlers to start")
		start := time.Now()
		if err := e.srv.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for range n {
			if err := <-cancelled; err != nil {
				t.Error(err)
			}
			if err := <-clientErr; err == nil {
				t.Error("client got a response from a closed server")
			}
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("in-flight requests took %v to end after Close", d)
		}
	})
}

// manyClients is how many clients TestManyClients holds open at once.
func manyClients() int {
	if testing.Short() {
		return 200
	}
	return 1000
}

// TestManyClients opens manyClients connections, holds them all open at
// once, then has each make a few keep-alive requests.
func TestManyClients(t *testing.T) {
	for _, st := range httpStacks() {
		t.Run(st.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			var open, maxOpen atomic.Int64
			e := newHTTPEnv(t, st, http.HandlerFunc(hello), func(s *http.Server) {
				s.ConnState = func(c net.Conn, cs http.ConnState) {
					switch cs {
					case http.StateNew:
						n := open.Add(1)
						for m := maxOpen.Load(); n > m && !maxOpen.CompareAndSwap(m, n); m = maxOpen.Load() {
						}
					case http.StateClosed:
						open.Add(-1)
					}
				}
			})
			n := manyClients()
			conns := make([]net.Conn, n)
			for i := range conns {
				conns[i] = st.dialTB(t, e.addr)
			}
			go1 := make(chan struct{})
			var wg sync.WaitGroup
			for i, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-go1
					br := bufio.NewReader(c)
					for j := range 3 {
						path := fmt.Sprintf("/c%d-%d", i, j)
						if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
							t.Errorf("client %d: %v", i, err)
							return
						}
						resp, err := http.ReadResponse(br, nil)
						if err != nil {
							t.Errorf("client %d: %v", i, err)
							return
						}
						body, err := io.ReadAll(resp.Body)
						if err != nil || string(body) != "hello "+path {
							t.Errorf("client %d: %q, %v", i, body, err)
							return
						}
					}
				}()
			}
			if !testutil.WaitFor(20*time.Second, func() bool { return open.Load() == int64(n) }) {
				t.Fatalf("server holds %d of %d conns", open.Load(), n)
			}
			close(go1)
			testutil.WaitGroup(t, &wg, 2*testDeadline, "the clients")
			if maxOpen.Load() != int64(n) {
				t.Errorf("at most %d conns open at once, want %d", maxOpen.Load(), n)
			}
			for _, c := range conns {
				c.Close()
			}
			if !testutil.WaitFor(20*time.Second, func() bool { return open.Load() == 0 }) {
				t.Fatalf("server still holds %d conns after the clients left", open.Load())
			}
		})
	}
}

// TestClientResetLeaksNothing has clients reset (RST) their connections in
// the middle of a request body and in the middle of a large response; after
// the server is closed no goroutine or fd may remain.
func TestClientResetLeaksNothing(t *testing.T) {
	for _, st := range httpStacks() {
		t.Run(st.name, func(t *testing.T) {
			resetRound(t, st) // warm up: lazily started pollers, pools
			testutil.CheckLeaks(t)
			resetRound(t, st)
		})
	}
}

func resetRound(t *testing.T, st stack) {
	const n = 20
	var handled sync.WaitGroup
	handled.Add(2 * n)
	inBody := make(chan struct{}, n)
	e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer handled.Done()
		switch r.URL.Path {
		case "/upload":
			inBody <- struct{}{}
			if _, err := io.ReadAll(r.Body); err == nil {
				t.Error("body read of a reset request succeeded")
			}
		case "/download":
			chunk := make([]byte, 64<<10)
			for range 4096 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			t.Error("256 MiB written to a reset client")
		}
	}), nil)
	// reset sends req, waits until the server is busy with it (the handler
	// is reading the body, or response bytes arrive), then resets the conn.
	reset := func(req string, reached chan struct{}) {
		// A standard client, so SetLinger(0) makes Close send RST.
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		c.SetDeadline(time.Now().Add(testDeadline))
		io.WriteString(c, req)
		if reached == nil {
			var b [8]byte
			if _, err := io.ReadFull(c, b[:]); err != nil {
				t.Errorf("no response bytes before the reset: %v", err)
			}
		} else {
			select {
			case <-reached:
			case <-time.After(10 * time.Second):
				t.Error("handler not reached")
			}
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			reset("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"+strings.Repeat("x", 5000), inBody)
		}()
		go func() {
			defer wg.Done()
			reset("GET /download HTTP/1.1\r\nHost: x\r\n\r\n", nil)
		}()
	}
	testutil.WaitGroup(t, &wg, 2*testDeadline, "the resetting clients")
	done := make(chan struct{})
	go func() { handled.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("handlers of reset conns did not return")
	}
	if !testutil.WaitFor(10*time.Second, func() bool { return e.closed.Load() == e.newConns.Load() }) {
		t.Fatalf("server closed %d of %d reset conns", e.closed.Load(), e.newConns.Load())
	}
	e.close()
}
