package netpoll

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestShutdownWaitsForOnDisconnect: Shutdown closes idle connections
// and returns once all are closed and their OnDisconnect hooks returned.
// A connection's count went before its hook ran, and Shutdown returned
// while the hooks of the connections it closed were still running (or
// not yet started): 0 of 4 had finished.
func TestShutdownWaitsForOnDisconnect(t *testing.T) {
	const n = 4
	var started, finished atomic.Int32
	s, addr := startServer(t, echoHandler, WithOnDisconnect(func(c *Conn, err error) {
		started.Add(1)
		time.Sleep(100 * time.Millisecond)
		finished.Add(1)
	}))
	for range n {
		dialTCP(t, addr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().TotalConns < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s.Stats().TotalConns != n {
		t.Fatalf("accepted %d of %d", s.Stats().TotalConns, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := finished.Load(); got != n {
		t.Errorf("Shutdown returned nil with %d of %d OnDisconnect hooks finished (%d started)",
			got, n, started.Load())
	}
	// They do all run eventually.
	deadline = time.Now().Add(5 * time.Second)
	for finished.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := finished.Load(); got != n {
		t.Fatalf("OnDisconnect ran %d times for %d connections", got, n)
	}
}

// TestIdleAfterLongHandler: a running handler is activity (checkIdle),
// and the idle clock starts again when it returns. lastActive was only
// stamped by socket I/O, so a handler that ran for longer than the idle
// timeout left its connection looking idle the moment it returned, and
// the next sweep closed it.
func TestIdleAfterLongHandler(t *testing.T) {
	skipInline(t) // the handler sleeps
	const idle = 200 * time.Millisecond
	var runs atomic.Int32
	disc := make(chan error, 1)
	_, addr := startServer(t, func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w := c.Writer()
		w.WriteBinary(append([]byte(nil), b...))
		r.Release()
		if err := w.Flush(); err != nil {
			return err
		}
		if runs.Add(1) == 1 {
			time.Sleep(3 * idle) // busy for longer than the idle timeout
		}
		return nil
	}, WithIdleTimeout(idle), WithOnDisconnect(func(c *Conn, err error) { disc <- err }))
	buf := make([]byte, 1)
	// The handler returns 3*idle after its reply, which it sends after
	// the client's first write: a second write within 4*idle of the first
	// comes within the timeout counted from the handler's return. A
	// client starved past that (possible under GOMAXPROCS=1 on a loaded
	// machine) may rightly find the connection closed; such an attempt
	// is made again, on a new connection.
	for attempt := 1; ; attempt++ {
		runs.Store(0)
		cl := dialTCP(t, addr)
		cl.SetDeadline(time.Now().Add(5 * time.Second))
		first := time.Now()
		cl.Write([]byte("a"))
		if _, err := cl.Read(buf); err != nil {
			t.Fatal(err)
		}
		// Speak again idle/2 after the handler's return.
		time.Sleep(3*idle + idle/2)
		cycle := time.Since(first)
		cl.Write([]byte("b"))
		_, err := cl.Read(buf)
		cl.Close()
		if err == nil {
			return
		}
		reason := testutil.Receive(t, disc, 5*time.Second, "OnDisconnect")
		if cycle < 4*idle || attempt == 3 {
			t.Fatalf("connection closed though written to %v after its first message, within the idle timeout (%v) after its handler returned: %v, server reason %v",
				cycle, idle, err, reason)
		}
		t.Logf("attempt %d: the client wrote %v after its first message, later than the handler's return plus the idle timeout: closed (%v), rightly",
			attempt, cycle, reason)
	}
}

// TestOnConnectCloseDisconnectOnce: a connection closed (or
// panicking) in OnConnect gets exactly one OnDisconnect and no handler
// run, on every backend. (Probe: passes on the current code.)
func TestOnConnectCloseDisconnectOnce(t *testing.T) {
	const n = 20
	var disc, handled atomic.Int32
	var i atomic.Int32
	_, addr := startServer(t, func(c *Conn) error {
		handled.Add(1)
		return echoHandler(c)
	}, WithOnConnect(func(c *Conn) {
		if i.Add(1)%2 == 0 {
			panic("boom")
		}
		c.Close()
	}), WithOnDisconnect(func(c *Conn, err error) { disc.Add(1) }))
	for range n {
		cl := dialTCP(t, addr)
		cl.Write([]byte("x"))
		cl.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := cl.Read(make([]byte, 1)); err == nil {
			t.Fatal("read succeeded on a conn closed in OnConnect")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for disc.Load() < n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if disc.Load() != n || handled.Load() != 0 {
		t.Fatalf("%d conns: %d OnDisconnect, %d handler runs", n, disc.Load(), handled.Load())
	}
}

// TestShutdownAfterFailedDial: a Dialer of a Server with OnDisconnect
// whose dial fails closes a connection whose runner never starts, so no
// hook runs for it; Shutdown must not wait for one.
func TestShutdownAfterFailedDial(t *testing.T) {
	skipStd(t, "a std dial fails before a connection exists")
	var hooks atomic.Int32
	s, _ := startServer(t, echoHandler, WithOnDisconnect(func(c *Conn, err error) { hooks.Add(1) }))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close() // nothing listens there now: the connect is refused
	d := &Dialer{Server: s}
	for range 3 {
		if c, err := d.DialContext(context.Background(), "tcp", refused); err == nil {
			c.Close()
			t.Fatalf("dial of a closed port succeeded")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after failed dials: %v", err)
	}
	if n := hooks.Load(); n != 0 {
		t.Errorf("OnDisconnect ran %d times for dials that failed", n)
	}
}
