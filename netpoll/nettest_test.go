package netpoll

import (
	"net"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// TestNetConnConformance runs x/net's net.Conn conformance suite with
// a netpoll server connection on one end and a plain client on the
// other, in both directions of roles.
func TestNetConnConformance(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig), WithPollers(1))
			nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
				cl, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return nil, nil, nil, err
				}
				c := recvConn(t, conns)
				return c, cl, func() { c.Close(); cl.Close() }, nil
			})
		})
	}
}
