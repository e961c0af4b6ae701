package netpoll

import (
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestUpdateEventsDoesNotWaitForEmu holds emu as a writer in writev
// would, changes the state that chooses the epoll mask and calls
// updateEvents: it must return at once, leaving the change to the
// holder, which applies it when it lets emu go. The kernel's view is
// checked too: bytes sent while the new mask (no EPOLLIN) is in force
// stay in the socket, and come in once input is wanted again.
func TestUpdateEventsDoesNotWaitForEmu(t *testing.T) {
	c, cl := levelConnHeld(t)

	c.emu.Lock()
	armed := c.armed.Load()
	c.flags.Or(fInPaused)
	done := make(chan struct{})
	go func() {
		c.updateEvents()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.emu.Unlock()
		t.Fatal("updateEvents waited for emu")
	}
	if c.flags.Load()&fMaskStale == 0 || c.armed.Load() != armed {
		c.emu.Unlock()
		t.Fatalf("while emu was held: stale=%v armed=%#x (was %#x)", c.flags.Load()&fMaskStale != 0, c.armed.Load(), armed)
	}
	c.unlockEmu()
	c.emu.Lock()
	want, got, stale := c.wantEvents(), c.armed.Load(), c.flags.Load()&fMaskStale != 0
	c.emu.Unlock()
	if stale || got != want || got&evIn != 0 {
		t.Fatalf("after unlockEmu: stale=%v armed=%#x, want %#x without EPOLLIN", stale, got, want)
	}

	if _, err := cl.Write([]byte("held in the kernel")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := c.in.Len(); n != 0 {
		t.Fatalf("the poller read %d bytes with EPOLLIN off", n)
	}
	c.flags.And(^uint32(fInPaused))
	c.updateEvents()
	if !testutil.WaitFor(5*time.Second, func() bool { return c.in.Len() == len("held in the kernel") }) {
		t.Fatalf("input not read after EPOLLIN came back: %d bytes buffered", c.in.Len())
	}
}

// TestUpdateEventsLockFreeLookSeesLateChange: updateEvents stops without
// emu when the registered mask is what the state wants. A holder of emu
// that computed a mask from an older state must then see the change
// before it lets go: here the holder pauses the input (no EPOLLIN), and
// between its computing the mask and registering it, another goroutine
// resumes the input and calls updateEvents, which finds the old mask
// current. Input sent afterwards must be read.
func TestUpdateEventsLockFreeLookSeesLateChange(t *testing.T) {
	c, cl := levelConnHeld(t)

	resumed := make(chan struct{})
	hook := func(hc *Conn) {
		if hc != c {
			return
		}
		testHookApplyEvents.Store(nil) // once
		go func() {
			c.flags.And(^uint32(fInPaused))
			c.updateEvents()
			close(resumed)
		}()
		select {
		case <-resumed:
		case <-time.After(5 * time.Second):
			t.Error("updateEvents waited for emu")
		}
	}
	testHookApplyEvents.Store(&hook)
	defer testHookApplyEvents.Store(nil)

	c.emu.Lock()
	c.flags.Or(fInPaused)
	c.applyEvents()
	c.unlockEmu()
	select {
	case <-resumed:
	default:
		t.Fatal("the hook did not run: applyEvents saw no change of mask")
	}
	c.emu.Lock()
	want, got := c.wantEvents(), c.armed.Load()
	c.emu.Unlock()
	if got != want || got&evIn == 0 {
		t.Fatalf("armed %#x, want %#x with EPOLLIN", got, want)
	}
	if _, err := cl.Write([]byte("after the resume")); err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return c.in.Len() == len("after the resume") }) {
		t.Fatalf("input not read: %d bytes buffered", c.in.Len())
	}
}

// levelConnHeld accepts a level-triggered connection on a one-poller
// Server and holds a reference to it until the test ends, as the
// poller holds one while it handles an event; cl is the peer.
func levelConnHeld(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	skipStd(t, "epoll masks and emu")
	_, addr, conns := startAccept(t, WithPollers(1), WithTrigger(LevelTriggered))
	cl := dialTCP(t, addr)
	c := recvConn(t, conns)
	t.Cleanup(func() { c.Close() })
	if !c.incref() {
		t.Fatal("connection closed")
	}
	t.Cleanup(c.decref)
	return c, cl
}
