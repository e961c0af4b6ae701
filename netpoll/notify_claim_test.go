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

// TestNotifyInputLeftByReader: a registration made before a Read that
// leaves part of the input buffered runs for what is left, as on the
// native backends, whose poller buffers the input, wakes the reader and
// then finds bytes still there. Under BackendStd the reader reads the
// socket itself, and the registration's watcher, which it interrupted,
// went back to block in the socket's read with those bytes buffered:
// the callback ran only when more input came.
func TestNotifyInputLeftByReader(t *testing.T) {
	c, cl := acceptPair(t)
	n := newNotified()
	c.NotifyInput(n.f)                // nothing buffered: registers
	time.Sleep(20 * time.Millisecond) // under BackendStd its watcher blocks in the socket's read

	got := make(chan string, 1)
	go func() {
		b := make([]byte, 1)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := c.Read(b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b[:k])
	}()
	time.Sleep(20 * time.Millisecond) // the reader blocks first
	if _, err := cl.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if s := testutil.Receive(t, got, 5*time.Second, "Read"); s != "h" {
		t.Fatalf("Read = %q, want \"h\"", s)
	}
	if !n.wait(2 * time.Second) {
		t.Fatalf("the callback did not run within 2s with %d bytes buffered", c.in.Len())
	}
	b := make([]byte, 8)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if k, err := c.Read(b); err != nil || string(b[:k]) != "ello" {
		t.Fatalf("Read = %q, %v; want \"ello\"", b[:k], err)
	}
}
