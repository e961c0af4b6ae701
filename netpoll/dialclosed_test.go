package netpoll

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestDialClosedServerConnectsNothing: a Dialer whose Server is closed
// fails with ErrServerClosed without connecting, so the peer never sees
// a connection come and go. Before, the dial connected first and found
// the Server closed only as it registered the socket: the peer accepted
// a connection that closed at once, for every such dial, on every
// backend (an RPC client's reconnect loop that outlives its Server's
// Close opened one at the peer per try).
func TestDialClosedServerConnectsNothing(t *testing.T) {
	for _, be := range testBackends(true) {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(be.String()+"/"+network, func(t *testing.T) {
				testutil.CheckLeaks(t)
				addr := "127.0.0.1:0"
				if network == "unix" {
					addr = filepath.Join(t.TempDir(), "s")
				}
				ln, err := net.Listen(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				s, err := NewServer(echoHandler, WithBackend(be))
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				d := Dialer{Server: s, Timeout: 5 * time.Second}
				c, err := d.DialContext(context.Background(), network, ln.Addr().String())
				if err == nil {
					c.Close()
					t.Fatal("a dial through a closed Server succeeded")
				}
				var oe *net.OpError
				if !errors.As(err, &oe) || oe.Op != "dial" || oe.Net != network || !errors.Is(err, ErrServerClosed) {
					t.Fatalf("dial = %v, want a dial *net.OpError on %s wrapping ErrServerClosed", err, network)
				}
				if oe.Addr == nil || oe.Addr.String() != ln.Addr().String() {
					t.Errorf("dial error names %v, want the address dialed, %v", oe.Addr, ln.Addr())
				}
				ln.(interface{ SetDeadline(time.Time) error }).SetDeadline(time.Now().Add(200 * time.Millisecond))
				if pc, err := ln.Accept(); err == nil {
					pc.Close()
					t.Errorf("the peer accepted a connection from a dial through a closed Server")
				} else if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("accept: %v", err)
				}
			})
		}
	}
}
