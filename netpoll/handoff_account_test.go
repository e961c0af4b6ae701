package netpoll

import (
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// A leader's handler run comes with its input not yet in the buffer
// budget's counts (onEvent passes that to the run). The input must be
// counted once the run ends with it unconsumed, and while the handler
// blocks, from the hand-off on: the budget bounds what blocked handlers
// hold.
func TestHandoffRunAccountsInput(t *testing.T) {
	skipStd(t, "the poller's hand-off")
	const n = 1000
	for _, tc := range []struct {
		name  string
		block bool
	}{{"returns", false}, {"blocks", true}} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			s, addr := startServer(t, func(c *Conn) error {
				if tc.block {
					<-release
				}
				return nil // consumes nothing
			}, WithPollers(1), WithDispatch(DispatchHandoff))
			defer close(release)
			cl := dialTCP(t, addr)
			if _, err := cl.Write(make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BufferedIn == n }) {
				t.Fatalf("BufferedIn %d with %d bytes unconsumed", s.Stats().BufferedIn, n)
			}
		})
	}
}
