package netpoll

import (
	"context"
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
