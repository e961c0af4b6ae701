package netpoll

import (
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
	skipStd(t, "epoll masks and emu")
	_, addr, conns := startAccept(t, WithPollers(1), WithTrigger(LevelTriggered))
	cl := dialTCP(t, addr)
	c := recvConn(t, conns)
	defer c.Close()
	if !c.incref() {
		t.Fatal("connection closed")
	}
	defer c.decref()

	c.emu.Lock()
	armed := c.armed
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
	if c.flags.Load()&fMaskStale == 0 || c.armed != armed {
		c.emu.Unlock()
		t.Fatalf("while emu was held: stale=%v armed=%#x (was %#x)", c.flags.Load()&fMaskStale != 0, c.armed, armed)
	}
	c.unlockEmu()
	c.emu.Lock()
	want, got, stale := c.wantEvents(), c.armed, c.flags.Load()&fMaskStale != 0
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
