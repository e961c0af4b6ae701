package netpoll

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestReview19DialSurvivesGroupClose: the Server a Dialer dials through
// is closed just as the connect completes (testHookDialConnected), and
// a socket made meanwhile is given the lowest free descriptor number.
// Close closes the dial's connection; the dial must still read the
// addresses of its own socket, not of whatever took its number: a
// descriptor is closed only when no goroutine can be inside a system
// call on it (DESIGN.md, fd lifetime). The dial held no reference to
// its connection, so Close's last reference closed the descriptor at
// once: the new socket got its number, and the dialed connection's
// LocalAddr was that socket's (127.0.0.3).
func TestReview19DialSurvivesGroupClose(t *testing.T) {
	skipStd(t, "BackendStd's dial holds Go's net.Conn, no descriptor of its own")
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			s, err := NewServer(func(c *Conn) error { return nil }, WithBackend(be), WithPollers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var fds []int // sockets made in the hook, up to the dial's number
			hook := func(c *Conn) {
				s.Close()
				time.Sleep(20 * time.Millisecond) // a poller's last reference, if any, goes
				for range 64 {
					fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
					if err != nil {
						t.Error(err)
						return
					}
					fds = append(fds, fd)
					if fd >= int(c.fd) {
						break
					}
				}
				if last := fds[len(fds)-1]; last == int(c.fd) {
					t.Logf("a new socket took the dial's descriptor %d", last)
					if err := syscall.Bind(last, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 3}}); err != nil {
						t.Error(err)
					}
				}
			}
			testHookDialConnected.Store(&hook)
			c, err := (&Dialer{Server: s}).DialContext(context.Background(), "tcp", ln.Addr().String())
			testHookDialConnected.Store(nil)
			defer func() {
				for _, fd := range fds {
					syscall.Close(fd)
				}
			}()
			if err != nil {
				t.Logf("dial: %v", err) // allowed: the Server closed
				return
			}
			defer c.Close()
			var peer net.Conn
			select {
			case peer = <-accepted:
				defer peer.Close()
			case <-time.After(5 * time.Second):
				t.Fatal("the listener did not accept the dial")
			}
			if got, want := c.LocalAddr(), peer.RemoteAddr().String(); got == nil || got.String() != want {
				t.Errorf("the dialed connection's LocalAddr is %v; its socket's is %s", got, want)
			}
		})
	}
}
