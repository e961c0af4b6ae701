package netpoll

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// A dial of an empty address fails as Go's net.Dialer's does: "dial
// tcp: missing address", a *net.OpError naming no address, for TCP and
// unix alike (upoll said "missing port in address", and for unix
// dialed the empty path: "connect: invalid argument").
func TestDialEmptyAddrAsGo(t *testing.T) {
	for _, network := range []string{"tcp", "tcp4", "tcp6", "unix"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, gerr := new(net.Dialer).DialContext(ctx, network, "")
		for _, b := range testBackends(true) {
			d := Dialer{Options: []Option{WithBackend(b)}}
			c, err := d.DialContext(ctx, network, "")
			if c != nil {
				c.Close()
			}
			if err == nil || gerr == nil || err.Error() != gerr.Error() {
				t.Errorf("%v %s: %v; Go's: %v", b, network, err, gerr)
				continue
			}
			if oe, ok := err.(*net.OpError); !ok || oe.Op != "dial" || oe.Addr != nil {
				t.Errorf("%v %s: %#v, not a dial *net.OpError without an address", b, network, err)
			}
		}
		cancel()
	}
}

// A Dialer's Options ignore the poller-level switches (its group's
// pollers are shared), but BackendStd named together with one of them is
// a conflict there as in NewServer, as the Dialer doc says.
func TestDialerPollerSwitches(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := (&Dialer{Options: []Option{WithPollers(2)}}).DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with WithPollers, which a Dialer ignores: %v", err)
	}
	c.Close()
	_, err = (&Dialer{Options: []Option{WithBackend(BackendStd), WithPollers(2)}}).DialContext(ctx, "tcp", ln.Addr().String())
	if !errors.Is(err, ErrBadConfig) {
		t.Fatalf("dial with BackendStd and WithPollers: %v, want ErrBadConfig (a conflict)", err)
	}
}
