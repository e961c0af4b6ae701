package netpoll

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestNotifyInputDroppedWhileClaimedWithInput: the poller (under
// BackendStd, the watcher) claims the registration, finds input and is
// about to run it. A cancel, a Close or a replacement that lands then
// comes first: the cancelled or closed callback never runs, and the
// replaced one neither (its replacement runs, once). Before, fireInput
// ran the callback it had claimed whether or not its consume found it
// still registered: NotifyInput(nil) and Close returned and the
// callback ran after them, and a replaced callback ran beside its
// replacement.
func TestNotifyInputDroppedWhileClaimedWithInput(t *testing.T) {
	for _, how := range []string{"cancel", "close", "replace"} {
		t.Run(how, func(t *testing.T) {
			c, cl := acceptPair(t)
			old, repl := newNotified(), newNotified()
			inWindow := make(chan struct{})
			var fired atomic.Bool
			hook := func(hc *Conn) {
				// Not a sync.Once: the replacement's NotifyInput runs
				// fireInput, and this hook, again on this goroutine.
				if hc != c || !fired.CompareAndSwap(false, true) {
					return
				}
				switch how {
				case "cancel":
					c.NotifyInput(nil)
				case "close":
					c.Close()
				case "replace":
					c.NotifyInput(repl.f)
				}
				close(inWindow)
			}
			testHookConsume.Store(&hook)
			defer testHookConsume.Store(nil)

			c.NotifyInput(old.f) // nothing buffered: registers
			if _, err := cl.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			testutil.Receive(t, inWindow, 5*time.Second, "the claim of the registration with input buffered")
			if old.wait(200 * time.Millisecond) {
				t.Fatalf("the callback ran after the %s that came before it ran", how)
			}
			if how == "replace" && (!repl.wait(5*time.Second) || repl.wait(100*time.Millisecond)) {
				t.Fatal("the replacing callback did not run exactly once")
			}
			if notifies.has(c) {
				t.Fatal("a registration is left behind")
			}
		})
	}
}
