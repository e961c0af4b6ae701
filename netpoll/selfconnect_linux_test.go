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

// TestDialSelfConnectNotCounted: a dial whose socket connected to itself
// (TCP's simultaneous open, when the kernel picks the port dialed as the
// local port) is retried, as Go's net retries it, and the connections so
// dropped never reach the caller: TotalConns ("dialed once connected")
// does not count them, and LiveConns is back to zero when the dial
// returns. Linux 6.18 never picks the port dialed for a loopback connect
// (a one-port ip_local_port_range that holds it gives EADDRNOTAVAIL),
// so each of the dial's sockets is bound to the address it dials before
// its connect (testHookDialSocket), which connects it to itself on every
// kernel; the retry, left to the kernel's choice, is refused. Before,
// the dropped socket counted: TotalConns 1 after a dial that failed.
func TestDialSelfConnectNotCounted(t *testing.T) {
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, err := NewServer(echoHandler, WithBackend(be))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close() // nothing listens there: a connect from the port itself meets itself

			target := ln.Addr().(*net.TCPAddr).AddrPort()
			var socks, bound atomic.Int32
			hook := func(fd int, sa sockaddr) {
				if sa.unix || sa.ap != target {
					return // another dial's
				}
				if socks.Add(1) == 1 && sysBind(fd, sa) == nil {
					bound.Add(1)
				}
			}
			testHookDialSocket.Store(&hook)
			defer testHookDialSocket.Store(nil)

			d := Dialer{Server: s, Timeout: 5 * time.Second}
			c, err := d.DialContext(context.Background(), "tcp", addr)
			if err == nil {
				c.Close()
				t.Fatalf("a dial of a port nothing listens on returned %v -> %v", c.LocalAddr(), c.RemoteAddr())
			}
			if n := socks.Load(); n != 2 || bound.Load() != 1 {
				t.Fatalf("%d sockets, %d bound to the address dialed; want 2 and 1 (the first, which met itself, and a retry)", n, bound.Load())
			}
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("dial error %v, want a dial *net.OpError wrapping ECONNREFUSED", err)
			}
			st := s.Stats()
			if st.TotalConns != 0 || st.LiveConns != 0 {
				t.Errorf("after a dial that met itself, then a refusal: TotalConns %d, LiveConns %d; want 0, 0 (the dial returned no connection)", st.TotalConns, st.LiveConns)
			}
		})
	}
}
