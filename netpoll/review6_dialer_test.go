package netpoll

import (
	"context"
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
