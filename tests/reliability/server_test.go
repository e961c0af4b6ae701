package reliability

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/adapters/nethttp"
	"github.com/upoll/upoll/gopool"
	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

var allTriggers = []netpoll.Trigger{netpoll.LevelTriggered, netpoll.EdgeTriggered, netpoll.OneShot}

// newPool makes a handler pool owned by the test: worker goroutines of a
// shared pool would outlive the test and blur the goroutine baseline.
func newPool(t testing.TB, opts ...gopool.Option) *gopool.Pool {
	t.Helper()
	opts = append([]gopool.Option{gopool.WithExpiry(100 * time.Millisecond)}, opts...)
	p, err := gopool.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Release(ctx); err != nil {
			t.Errorf("pool release: %v", err)
		}
	})
	return p
}

// disconnects records why a server's connections closed.
type disconnects struct {
	mu      sync.Mutex
	reasons []error
}

func (d *disconnects) add(_ *netpoll.Conn, err error) {
	d.mu.Lock()
	d.reasons = append(d.reasons, err)
	d.mu.Unlock()
}

func (d *disconnects) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.reasons)
}

// countIf counts the reasons for which f holds.
func (d *disconnects) countIf(f func(error) bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, r := range d.reasons {
		if f(r) {
			n++
		}
	}
	return n
}

// summary groups the reasons by message, for failure output.
func (d *disconnects) summary() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := map[string]int{}
	for _, r := range d.reasons {
		s := "<nil>"
		if r != nil {
			s = r.Error()
			if len(s) > 60 {
				s = s[:60]
			}
		}
		m[s]++
	}
	return m
}

// native is a netpoll Server on a fresh 127.0.0.1 listener.
type native struct {
	srv  *netpoll.Server
	addr string
	disc *disconnects
	pool *gopool.Pool
}

// startNative serves h with its own pool (unless opts set one) and
// records disconnect reasons. The server is closed when the test ends.
func startNative(t testing.TB, h netpoll.Handler, opts ...netpoll.Option) *native {
	t.Helper()
	n := &native{disc: &disconnects{}}
	n.pool = newPool(t)
	// The recorder comes first so that a caller's own OnDisconnect (the
	// soak's, which must not keep a reason per connection) replaces it.
	opts = append([]netpoll.Option{netpoll.WithPool(n.pool), netpoll.WithPollers(2),
		netpoll.WithOnDisconnect(n.disc.add)}, opts...)
	ln, err := netpoll.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	n.srv, err = netpoll.NewServer(h, opts...)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- n.srv.Serve(ln) }()
	t.Cleanup(func() {
		n.srv.Close()
		select {
		case err := <-served:
			if !errors.Is(err, netpoll.ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return n
}

// live is the number of connections the server holds.
func (n *native) live() int64 { return n.srv.Stats().LiveConns }

// httpEnv is an http.Server on the nethttp adapter.
type httpEnv struct {
	srv    *http.Server
	addr   string
	closed chan struct{} // one value per connection that reached StateClosed
	states sync.Map      // net.Conn -> http.ConnState
}

// startHTTP serves h with http.Server on nethttp.Listen; cfg adjusts the
// server before it starts. It is shut down when the test ends.
func startHTTP(t testing.TB, h http.Handler, cfg func(*http.Server), opts ...netpoll.Option) *httpEnv {
	t.Helper()
	pool := newPool(t)
	opts = append([]netpoll.Option{netpoll.WithPool(pool), netpoll.WithPollers(2)}, opts...)
	ln, err := nethttp.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	e := &httpEnv{addr: ln.Addr().String(), closed: make(chan struct{}, 1<<16)}
	e.srv = &http.Server{Handler: h, ErrorLog: discardLog()}
	e.srv.ConnState = func(c net.Conn, s http.ConnState) {
		e.states.Store(c, s)
		if s == http.StateClosed || s == http.StateHijacked {
			e.states.Delete(c)
			select {
			case e.closed <- struct{}{}:
			default:
			}
		}
	}
	if cfg != nil {
		cfg(e.srv)
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		e.srv.Close()
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				t.Errorf("Serve returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return e
}

// open counts the connections http.Server still tracks.
func (e *httpEnv) open() int {
	n := 0
	e.states.Range(func(any, any) bool { n++; return true })
	return n
}

// dial connects to addr with the standard library (the peer under test
// is the server; the client side stays ordinary).
func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// dialSmallRcvbuf dials with a small receive buffer, so that a client
// that never reads pushes back on the server quickly.
func dialSmallRcvbuf(addr string, size int) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return testutil.SetReceiveBuffer(rc, size)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// isClosedByPeer reports errors a client sees when the server closed or
// reset its connection.
func isClosedByPeer(err error) bool {
	return err != nil && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		err.Error() == "EOF")
}

func withTrigger(t netpoll.Trigger) netpoll.Option { return netpoll.WithTrigger(t) }
