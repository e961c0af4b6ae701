package netpoll

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A dial of an address with no host (":p", as a client dials a
// listener's own Addr) dials the unspecified address, looked up nowhere,
// as Go's net.Dialer does: its error names ":p", and on tcp6 it reaches
// an IPv6 listener. upoll looked "localhost" up instead: its errors named
// 127.0.0.1, and where /etc/hosts gives localhost no IPv6 address a tcp6
// dial failed with "no suitable address found" where Go's connects.
func TestDialEmptyHostAsGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc := func(c net.Conn, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		defer c.Close()
		return "remote " + c.RemoteAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, free, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	dests := [][2]string{{"tcp", ":" + free}, {"tcp4", ":" + free}}
	if l6, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		defer l6.Close()
		go func() {
			for {
				c, err := l6.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		_, p6, _ := net.SplitHostPort(l6.Addr().String())
		dests = append(dests, [2]string{"tcp6", ":" + p6})
	} else {
		t.Logf("no IPv6 loopback (%v): tcp6 not dialed", err)
	}
	for _, dest := range dests {
		network, addr := dest[0], dest[1]
		want := desc(new(net.Dialer).DialContext(ctx, network, addr))
		for _, b := range testBackends(true) {
			d := Dialer{Options: []Option{WithBackend(b)}}
			c, err := d.DialContext(ctx, network, addr)
			var got string
			if err != nil {
				got = desc(nil, err)
			} else {
				got = desc(c, nil)
			}
			if got != want {
				t.Errorf("%v: dial %s %q: %s; Go's: %s", b, network, addr, got, want)
			}
		}
	}
}

// A Server's Close and Shutdown end its dials still connecting, on every
// backend, as its doc says they cover its dialed connections: the dial
// returns ErrServerClosed at once. Under BackendStd, whose dial is Go's
// net.Dialer's, they went on until their own deadline (8 s here; with
// none, until the kernel gave up on the connect, minutes later), and
// TestDialGroupCloseWhileConnecting skipped it (nothing is live there
// while Go's dial connects).
func TestDialGroupEndsConnectingDialEveryBackend(t *testing.T) {
	hung := hangingAddrs(t, 1)[0].String()
	for _, b := range testBackends(true) {
		for _, how := range []string{"Close", "Shutdown"} {
			s, err := NewServer(echoHandler, WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
				defer cancel()
				c, err := (&Dialer{Server: s}).DialContext(ctx, "tcp", hung)
				if err == nil {
					c.Close()
				}
				done <- err
			}()
			time.Sleep(100 * time.Millisecond) // the dial is connecting
			if how == "Close" {
				s.Close()
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if err := s.Shutdown(ctx); err != nil {
					t.Errorf("%v: Shutdown = %v", b, err)
				}
				cancel()
			}
			select {
			case err := <-done:
				var oe *net.OpError
				switch {
				case err == nil:
					t.Logf("%v %s: the kernel completed the connect", b, how)
				case !errors.Is(err, ErrServerClosed) || !errors.As(err, &oe) || oe.Op != "dial":
					t.Errorf("%v %s: dial = %v, want a dial *net.OpError wrapping ErrServerClosed", b, how, err)
				}
			case <-time.After(3 * time.Second):
				t.Errorf("%v %s: dial still connecting 3 s after", b, how)
				<-done
			}
			s.Close()
		}
	}
}

// lateListener returns a 127.0.0.1 address whose connects complete late:
// its accept queue is full, so the first SYN of a connect is dropped,
// and after wait the queue is emptied, so that the SYN's retransmission
// (a second after it, on Linux) is answered. It reports false where the
// kernel completed the handshakes despite the full queue.
func lateListener(t *testing.T, wait time.Duration) (string, bool) {
	t.Helper()
	fd, err := sysSocket(afInet4)
	if err != nil {
		t.Skipf("raw listening socket: %v", err)
	}
	t.Cleanup(func() { sysClose(fd) })
	loopback := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)
	if err := sysBind(fd, tcpSockaddr(loopback, 0)); err != nil {
		t.Fatal(err)
	}
	if err := sysListen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := sysGetsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := sa.ap.String()
	if !fillQueue(t, addr) {
		return addr, false
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		select {
		case <-time.After(wait):
		case <-stop:
			return
		}
		// Empty the queue for the retransmitted SYN, and keep it empty
		// (bounded: until the test ends, or 10 s).
		unix.SetNonblock(fd, true)
		end := time.After(10 * time.Second)
		for {
			for {
				nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
				if err != nil {
					break
				}
				unix.Close(nfd)
			}
			select {
			case <-stop:
				return
			case <-end:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return addr, true
}

// A dial still connecting is not idle: a connection's idle timeout
// counts from its connect, not across it, as under BackendStd and on a
// Server with a handler. On epoll and io_uring a connection without a
// handler (a Dialer's Options with WithIdleTimeout, or an accept-mode
// Server) was closed by the idle sweep while its connect was in flight:
// the dial failed with ErrIdleTimeout after 200 ms where Go's net.Dialer
// connects a second later.
func TestDialSlowerThanIdleTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("a connect of about 1 s per case, about 7 s in all")
	}
	const idle = 200 * time.Millisecond
	for _, b := range testBackends(true) {
		for _, mode := range []string{"Dialer.Options", "accept-mode Server"} {
			t.Run(b.String()+"/"+mode, func(t *testing.T) {
				addr, ok := lateListener(t, 300*time.Millisecond)
				if !ok {
					t.Skip("kernel completed the handshakes despite the full queue")
				}
				d := Dialer{Timeout: 8 * time.Second}
				if mode == "Dialer.Options" {
					d.Options = []Option{WithBackend(b), WithIdleTimeout(idle)}
				} else {
					s, err := NewServer(nil, WithBackend(b), WithIdleTimeout(idle))
					if err != nil {
						t.Fatal(err)
					}
					defer s.Close()
					d.Server = s
				}
				start := time.Now()
				c, err := d.DialContext(context.Background(), "tcp", addr)
				took := time.Since(start)
				if err != nil {
					t.Fatalf("dial = %v after %v, want a connection (the connect completes after about 1 s)", err, took)
				}
				defer c.Close()
				if took < idle {
					t.Skipf("the connect took %v, less than the idle timeout", took)
				}
				// The idle clock starts at the connect: the connection
				// is not closed at once for the time the connect took.
				time.Sleep(idle / 4)
				if _, err := c.Write([]byte("x")); err != nil {
					t.Fatalf("write right after a %v connect: %v", took, err)
				}
			})
		}
	}
}
