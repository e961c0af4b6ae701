package netpoll

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

var allTriggers = []Trigger{LevelTriggered, EdgeTriggered, OneShot}

// startServer serves h on a fresh 127.0.0.1 listener; the server is
// closed when the test ends.
func startServer(t testing.TB, h Handler, opts ...Option) (*Server, string) {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(h, opts...)
	if err != nil {
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

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settle waits (bounded) until f reports true.
func settle(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if f() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f()
}

// checkGoroutines fails if more goroutines than base remain after a
// bounded settle wait.
func checkGoroutines(t testing.TB, base int) {
	t.Helper()
	if !settle(5*time.Second, func() bool { return runtime.NumGoroutine() <= base }) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d > %d\n%s", runtime.NumGoroutine(), base, firstStacks(string(buf[:n])))
	}
}

func firstStacks(s string) string {
	parts := strings.Split(s, "\n\n")
	if len(parts) > 10 {
		parts = parts[:10]
	}
	return strings.Join(parts, "\n\n")
}

func mustAddrPort(t testing.TB, addr string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}
