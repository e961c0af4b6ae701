package netpoll

import (
	"context"
	"net"
	"testing"
	"time"
)

// linkLocalAddr returns an IPv6 link-local address of an interface that
// is up, with its zone ("fe80::1%eth0"), or "" if there is none.
func linkLocalAddr() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsLinkLocalUnicast() {
				return ipn.IP.String() + "%" + ifi.Name
			}
		}
	}
	return ""
}

// TestLinkLocalPeerZone: the addresses of a connection to or from an
// IPv6 link-local address carry its zone, as Go's net gives them:
// without it, the address names no interface, and dialing it back fails
// (connect: invalid argument). Before, RemoteAddr (and with it the
// errors' Addr) left the zone out on every backend, accepted and dialed,
// and BackendStd's accepted LocalAddr too when the listener had that
// address.
func TestLinkLocalPeerZone(t *testing.T) {
	ll := linkLocalAddr()
	if ll == "" {
		t.Skip("no IPv6 link-local address on an interface that is up")
	}
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			for _, laddr := range []string{"[::]:0", "[" + ll + "]:0"} {
				conns := make(chan *Conn, 1)
				s, err := NewServer(nil, WithBackend(b), WithOnConnect(func(c *Conn) { conns <- c }))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				ln, err := s.Listen("tcp", laddr)
				if err != nil {
					t.Skipf("listen %s: %v", laddr, err)
				}
				go s.Serve(ln)
				_, port, _ := net.SplitHostPort(ln.Addr().String())
				cl, err := net.DialTimeout("tcp", net.JoinHostPort(ll, port), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { cl.Close() })
				c := recvConn(t, conns)
				if got, want := c.RemoteAddr().String(), cl.LocalAddr().String(); got != want {
					t.Errorf("listener %s: accepted RemoteAddr %s, want %s (the peer's LocalAddr)", laddr, got, want)
				}
				if got, want := c.LocalAddr().String(), cl.RemoteAddr().String(); got != want {
					t.Errorf("listener %s: accepted LocalAddr %s, want %s (the peer's RemoteAddr)", laddr, got, want)
				}
				c.Close()
				cl.Close()
				s.Close()
			}

			gl, err := net.Listen("tcp", "[::]:0")
			if err != nil {
				t.Fatal(err)
			}
			defer gl.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				c, _ := gl.Accept()
				accepted <- c
			}()
			_, port, _ := net.SplitHostPort(gl.Addr().String())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			d := &Dialer{Options: []Option{WithBackend(b)}}
			c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ll, port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var peer net.Conn
			select {
			case peer = <-accepted:
			case <-time.After(5 * time.Second):
				t.Fatal("no accept within 5 s")
			}
			if peer == nil {
				t.Fatal("accept failed")
			}
			defer peer.Close()
			if got, want := c.RemoteAddr().String(), peer.LocalAddr().String(); got != want {
				t.Errorf("dialed RemoteAddr %s, want %s (the peer's LocalAddr)", got, want)
			}
			if got, want := c.LocalAddr().String(), peer.RemoteAddr().String(); got != want {
				t.Errorf("dialed LocalAddr %s, want %s (the peer's RemoteAddr)", got, want)
			}
		})
	}
}
