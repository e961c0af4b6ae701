package nethttp

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/uring"
	"github.com/upoll/upoll/netpoll"
)

// tcpOptions is what code written for Go's *net.TCPConn type-asserts on
// an accepted connection; the adapter's conn has it through the
// embedded *netpoll.Conn.
type tcpOptions interface {
	SetNoDelay(bool) error
	SetKeepAlive(bool) error
	SetLinger(int) error
	SyscallConn() (syscall.RawConn, error)
}

var (
	_ tcpOptions = (*net.TCPConn)(nil)
	_ tcpOptions = (*conn)(nil)
)

// sockoptBackends are the backends the adapter's socket option tests
// run on: uring where the kernel has it.
func sockoptBackends() []netpoll.Backend {
	bs := []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd}
	if uring.Available() == nil {
		bs = append(bs, netpoll.BackendUring)
	}
	return bs
}

// acceptedTCP returns a connection accepted by the adapter's listener on
// backend b, and the client's end.
func acceptedTCP(t *testing.T, b netpoll.Backend) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := Listen("tcp", "127.0.0.1:0", netpoll.WithBackend(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cl, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	cl.SetDeadline(time.Now().Add(testDeadline))
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Errorf("accept: %v", err)
		}
		accepted <- c
	}()
	select {
	case c := <-accepted:
		if c == nil {
			t.FailNow()
		}
		t.Cleanup(func() { c.Close() })
		return c, cl
	case <-time.After(10 * time.Second):
		t.Fatal("accept timed out")
		return nil, nil
	}
}

// TestConnTCPOptions: a connection from the adapter's listener has the
// socket options of *net.TCPConn, and SetLinger(0) acts on its socket:
// Close then resets the connection, and the client's read fails with
// ECONNRESET instead of reading io.EOF.
func TestConnTCPOptions(t *testing.T) {
	for _, b := range sockoptBackends() {
		t.Run(b.String(), func(t *testing.T) {
			c, cl := acceptedTCP(t, b)
			o, ok := c.(tcpOptions)
			if !ok {
				t.Fatalf("%T has not the TCP options of *net.TCPConn", c)
			}
			if err := o.SetKeepAlive(true); err != nil {
				t.Errorf("SetKeepAlive: %v", err)
			}
			if err := o.SetLinger(0); err != nil {
				t.Fatalf("SetLinger: %v", err)
			}
			c.Close()
			_, err := cl.Read(make([]byte, 1))
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("client's Read after SetLinger(0) and Close: %v, want a reset", err)
			}
		})
	}
}
