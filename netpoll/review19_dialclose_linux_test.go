package netpoll

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
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

// TestReview19DialAddrNotAvail: a connect that fails at once with
// EADDRNOTAVAIL (here the dial's socket is bound to the local address
// of a live connection to the same peer, testHookDialSocket, as a
// dial meets it when the ephemeral ports run out) fails the dial with
// Go's net's error ("dial tcp ADDR: connect: cannot assign requested
// address"), runs no hook, counts no connection and leaves nothing
// open. Passed before this round's fixes as after: it pins what held.
func TestReview19DialAddrNotAvail(t *testing.T) {
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			target := ln.Addr().(*net.TCPAddr).AddrPort()
			reuse := func(fd int) { syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1) }
			nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) { reuse(int(fd)) })
			}}
			// The bind fails at times (EADDRINUSE: another socket on
			// that port, of another test, or a kernel's rule): then
			// another try, with another live connection and Server.
			for try := 1; ; try++ {
				live, err := nd.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer live.Close()
				local := live.LocalAddr().(*net.TCPAddr).AddrPort()
				var hooks atomic.Int32
				s, err := NewServer(echoHandler, WithBackend(be),
					WithOnConnect(func(*Conn) { hooks.Add(1) }), WithOnDisconnect(func(*Conn, error) { hooks.Add(1) }))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var bindErr error
				hook := func(fd int, sa sockaddr) {
					if sa.unix || sa.ap != target {
						return // another dial's
					}
					reuse(fd)
					bindErr = sysBind(fd, tcpSockaddr(local, 0))
				}
				testHookDialSocket.Store(&hook)
				d := Dialer{Server: s, Timeout: 5 * time.Second}
				c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
				testHookDialSocket.Store(nil)
				if err == nil {
					c.Close()
				}
				if bindErr != nil {
					if try == 5 {
						t.Skipf("the kernel refused to bind to a live connection's address %d times: %v", try, bindErr)
					}
					continue
				}
				if err == nil {
					t.Fatal("a dial from the address of a live connection to the same peer connected")
				}
				var oe *net.OpError
				if want := "dial tcp " + target.String() + ": connect: cannot assign requested address"; !errors.As(err, &oe) ||
					!errors.Is(err, syscall.EADDRNOTAVAIL) || err.Error() != want {
					t.Errorf("dial error %q; want a *net.OpError wrapping EADDRNOTAVAIL: %q", err, want)
				}
				if st := s.Stats(); st.TotalConns != 0 || st.LiveConns != 0 || hooks.Load() != 0 {
					t.Errorf("after the failed dial: TotalConns %d, LiveConns %d, hooks run %d; want 0, 0, 0", st.TotalConns, st.LiveConns, hooks.Load())
				}
				return
			}
		})
	}
}

// TestReview19InlineShutdownEndsHandlersDial: under DispatchInline a
// handler dials through its own Server to an address whose connect
// hangs (pollConnect, on the handler's loop), and the Server is shut
// down meanwhile. Shutdown ends dials still connecting, as Close does
// (its doc): the dial fails, the handler answers "failed" and returns,
// and Shutdown returns nil once the client's connection is idle and
// closed. Shutdown's looks from its own goroutine count only while no
// pass of the poller runs, and the poller's own look comes at a pass's
// end: the loop was inside the handler's dial, in a pass, so neither
// came, and Shutdown returned context.DeadlineExceeded at its 2 s with
// the dial still connecting (the kernel's connect timeout, about two
// minutes, or Close would have ended it).
func TestReview19InlineShutdownEndsHandlersDial(t *testing.T) {
	stalled := stalledListener(t)
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			var s *Server
			started := make(chan struct{})
			dialing := make(chan struct{}, 1)
			h := dialOrEchoHandler(func() *Dialer {
				<-started
				dialing <- struct{}{}
				return &Dialer{Server: s}
			}, stalled)
			s, addr := startServer(t, h, WithBackend(be), WithPollers(1), WithDispatch(DispatchInline))
			close(started)
			c := dialTCP(t, addr)
			if _, err := c.Write([]byte("D")); err != nil {
				t.Fatal(err)
			}
			testutil.Receive(t, dialing, 5*time.Second, "the handler's dial")
			time.Sleep(50 * time.Millisecond) // the dial waits for its connect
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			if err := s.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown with the handler's dial connecting: %v after %v, want nil", err, time.Since(start))
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 16)
			n, err := c.Read(buf)
			if string(buf[:n]) != "failed" {
				t.Errorf("the client read %q, %v; want the handler's answer %q", buf[:n], err, "failed")
			}
		})
	}
}
