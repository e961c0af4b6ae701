package netpoll

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
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
