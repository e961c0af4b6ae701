package netpoll

import (
	"errors"
	"syscall"
	"testing"
)

// A Flush whose queued batch the poller sends first (EPOLLOUT after the
// peer's shutdown woke it), in a send that fails, reports the failure:
// it used to find the queue empty after its own writev and return nil,
// the batch dropped unsent. Here the poller's send is made by a hook at
// the point where it raced (testHookDrainSend), deterministically.
func TestFlushSeesPollerSendFail(t *testing.T) {
	c, _ := peerReadShutUnix(t, "no poller sends under BackendStd")
	hooked := 0
	testHookDrainSend = func(c *Conn) {
		hooked++
		c.pollFlush()
	}
	t.Cleanup(func() { testHookDrainSend = nil })
	w := c.Writer()
	if _, err := w.WriteBinary([]byte("to a peer that reads no more")); err != nil {
		t.Fatal(err)
	}
	err := w.Flush()
	testHookDrainSend = nil
	if hooked == 0 {
		t.Fatal("the Flush did not reach its queued send: nothing checked")
	}
	if !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Flush after the poller's failed send of its batch: %v, want EPIPE", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("the next Write: %v, want EPIPE", err)
	}
	if n := c.out.Len(); n != 0 {
		t.Errorf("%d bytes left queued", n)
	}
}
