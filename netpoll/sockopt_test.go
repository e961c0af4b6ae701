package netpoll

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// sockoptCalls are the socket option calls of *net.TCPConn that *Conn
// has too, each made through the method set both share.
var sockoptCalls = []struct {
	name string
	call func(c tcpConnAPI) error
}{
	{"SetNoDelay", func(c tcpConnAPI) error { return c.SetNoDelay(false) }},
	{"SetKeepAlive", func(c tcpConnAPI) error { return c.SetKeepAlive(false) }},
	{"SetKeepAlivePeriod", func(c tcpConnAPI) error { return c.SetKeepAlivePeriod(time.Minute) }},
	{"SetKeepAliveConfig", func(c tcpConnAPI) error {
		return c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
	}},
	{"SetLinger", func(c tcpConnAPI) error { return c.SetLinger(0) }},
	{"SetReadBuffer", func(c tcpConnAPI) error { return c.SetReadBuffer(1 << 16) }},
	{"SetWriteBuffer", func(c tcpConnAPI) error { return c.SetWriteBuffer(1 << 16) }},
	{"SyscallConn.Control", func(c tcpConnAPI) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		return rc.Control(func(uintptr) {})
	}},
	{"SyscallConn.Read", func(c tcpConnAPI) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		return rc.Read(func(uintptr) bool { return true })
	}},
	{"SyscallConn.Write", func(c tcpConnAPI) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		return rc.Write(func(uintptr) bool { return true })
	}},
}

// tcpConnAPI is the method set sockoptCalls use.
type tcpConnAPI = interface {
	SetNoDelay(bool) error
	SetKeepAlive(bool) error
	SetKeepAlivePeriod(time.Duration) error
	SetKeepAliveConfig(net.KeepAliveConfig) error
	SetLinger(int) error
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
	SyscallConn() (syscall.RawConn, error)
}

var (
	_ tcpConnAPI = (*net.TCPConn)(nil)
	_ tcpConnAPI = (*Conn)(nil)
)

// addrErrShape describes an error as a caller of Go's net can see it,
// without the addresses' values: the OpError's Op and Net, which of
// the connection's addresses its Source and Addr are, and whether it
// wraps net.ErrClosed.
type addrErrShape struct {
	OpError      bool
	Op, Net      string
	Source, Addr string
	Closed       bool
}

func addrShapeOf(err error, local, remote net.Addr) addrErrShape {
	role := func(a net.Addr) string {
		switch {
		case a == nil:
			return "nil"
		case a.String() == local.String():
			return "local"
		case a.String() == remote.String():
			return "remote"
		}
		return "other: " + a.String()
	}
	s := addrErrShape{Closed: errors.Is(err, net.ErrClosed)}
	var oe *net.OpError
	if errors.As(err, &oe) {
		s.OpError, s.Op, s.Net = true, oe.Op, oe.Net
		s.Source, s.Addr = role(oe.Source), role(oe.Addr)
	}
	return s
}

// TestSockoptsAfterClose: after Close each option call fails as it does
// on Go's *net.TCPConn: a *net.OpError with the same Op, Net and
// addresses, wrapping net.ErrClosed; SyscallConn itself succeeds, as
// Go's, and its calls fail so.
func TestSockoptsAfterClose(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			dialTCP(t, addr)
			c := recvConn(t, conns)
			g, _ := goTCPPair(t)
			laddr, raddr := c.LocalAddr(), c.RemoteAddr()
			gladdr, graddr := g.LocalAddr(), g.RemoteAddr()
			for _, sc := range sockoptCalls {
				if err := sc.call(c); err != nil && !errors.Is(err, ErrRawIO) {
					t.Errorf("%s before Close: %v", sc.name, err)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			g.Close()
			for _, sc := range sockoptCalls {
				err := sc.call(c)
				want := addrShapeOf(sc.call(g), gladdr, graddr)
				if !want.OpError || !want.Closed {
					t.Fatalf("%s after Close on Go's TCPConn: %+v, not a closed OpError", sc.name, want)
				}
				if got := addrShapeOf(err, laddr, raddr); got != want {
					t.Errorf("%s after Close: %v\n  shape %+v\n  Go's  %+v", sc.name, err, got, want)
				}
			}
		})
	}
}

// TestSockoptsConcurrentClose: setters racing with Close either set the
// option or report net.ErrClosed, never an error of a descriptor closed
// under them (EBADF) or of another socket.
func TestSockoptsConcurrentClose(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			for range 20 {
				dialTCP(t, addr)
				c := recvConn(t, conns)
				done := make(chan error, 1)
				go func() {
					for {
						var err error
						if err = c.SetNoDelay(false); err == nil {
							err = c.SetReadBuffer(1 << 16)
						}
						if err != nil {
							done <- err
							return
						}
					}
				}()
				time.Sleep(time.Millisecond)
				c.Close()
				select {
				case err := <-done:
					var oe *net.OpError
					if !errors.As(err, &oe) || oe.Op != "set" || !errors.Is(err, net.ErrClosed) {
						t.Fatalf("setter racing with Close: %v, want a set OpError wrapping net.ErrClosed", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("setters did not fail after Close")
				}
			}
		})
	}
}
