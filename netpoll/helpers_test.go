package netpoll

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/uring"
)

var allTriggers = []Trigger{LevelTriggered, EdgeTriggered, OneShot}

// startServer serves h on a fresh 127.0.0.1 listener; the server is
// closed when the test ends.
func startServer(t testing.TB, h Handler, opts ...Option) (*Server, string) {
	t.Helper()
	s, err := NewServer(h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s, ln.Addr().String()
}

// startAccept runs an accept-mode server and returns its connections
// through a channel.
func startAccept(t testing.TB, opts ...Option) (*Server, string, chan *Conn) {
	t.Helper()
	conns := make(chan *Conn, 1024)
	opts = append(opts, WithOnConnect(func(c *Conn) { conns <- c }))
	s, addr := startServer(t, nil, opts...)
	return s, addr, conns
}

func recvConn(t testing.TB, ch chan *Conn) *Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func dialTCP(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// echoHandler writes back whatever arrived.
func echoHandler(c *Conn) error {
	r, w := c.Reader(), c.Writer()
	b, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	if _, err := w.WriteBinary(b); err != nil {
		return err
	}
	if err := r.Release(); err != nil {
		return err
	}
	return w.Flush()
}

func mustAddrPort(t testing.TB, addr string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// skipStd skips a test of the epoll backend's own machinery when UPOLL
// makes BackendStd the default (the suites run a second time so); why
// says what the test looks at that BackendStd does not have.
func skipStd(t testing.TB, why string) {
	t.Helper()
	if stdDefault() {
		t.Skipf("backend std: %s", why)
	}
}

// skipInline skips a test whose handlers wait (on a channel, for input,
// for a deadline) when UPOLL makes DispatchInline the default: inline
// handlers run on the poller and must not block (a Conn wait returns
// ErrWouldBlock there), so the case does not apply to that mode.
func skipInline(t testing.TB) {
	t.Helper()
	if cfg, err := buildConfig(nil, true); err == nil && cfg.Dispatch == DispatchInline {
		t.Skip("dispatch inline: the handlers of this test wait, which inline handlers must not")
	}
}

// stdDefault reports whether UPOLL makes BackendStd the default.
func stdDefault() bool {
	cfg, err := buildConfig(nil, true)
	return err == nil && cfg.Backend == BackendStd
}

// testBackends lists the backends a test runs on: epoll, std if withStd,
// and uring where the kernel has it.
func testBackends(withStd bool) []Backend {
	bs := []Backend{BackendEpoll}
	if withStd {
		bs = append(bs, BackendStd)
	}
	if uring.Available() == nil {
		bs = append(bs, BackendUring)
	}
	return bs
}

// idleWaits returns how many waits s's pollers made during window,
// after settle, while the test sends nothing: a poller with nothing to
// do blocks, so more than a few is an event that keeps firing.
func idleWaits(s *Server, settle, window time.Duration) uint64 {
	time.Sleep(settle)
	w0 := s.Stats().Waits
	time.Sleep(window)
	return s.Stats().Waits - w0
}

// checkEchoes dials addr, served by an echo handler, and checks that one
// byte comes back: the server is serving it.
func checkEchoes(t testing.TB, addr string) {
	t.Helper()
	c := dialTCP(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

// goServer serves each connection accepted by a Go net listener on
// 127.0.0.1 with serve, on a goroutine of its own, then closes it; the
// listener closes when the test ends. It returns the address.
func goServer(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { serve(c); c.Close() }()
		}
	}()
	return l.Addr().String()
}
