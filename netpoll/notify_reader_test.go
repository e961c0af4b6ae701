package netpoll

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestNotifyInputAfterReaderTookInput: the poller wakes a blocked
// reader before it looks for an input registration, and the reader may
// take all of the input, and its owner register, before the poller
// looks (a poller descheduled under load; here held by testHookInput).
// That registration was made with nothing buffered, for input still to
// come: it must wait for that input, not run at once with nothing to
// read. The nethttp adapter parks a connection right after its server
// has read a request from it, and a callback run so handed the
// connection back to Accept with no request to read, where it stayed
// (TestParkBurst: Parked 1999 of 2000, Unparks 1, WokeBytes 0).
func TestNotifyInputAfterReaderTookInput(t *testing.T) {
	skipStd(t, "its watcher, not a poller, reads for NotifyInput")
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithTrigger(trig))
			unblock := holdInputForReader(t, c, cl)

			n := newNotified()
			c.NotifyInput(n.f) // nothing buffered: registers
			unblock()
			if n.wait(200 * time.Millisecond) {
				t.Fatalf("callback ran with %d bytes buffered, for input a reader had taken before the registration", c.Reader().Len())
			}
			if _, err := cl.Write([]byte("second")); err != nil {
				t.Fatal(err)
			}
			if !n.wait(5 * time.Second) {
				t.Fatal("callback did not run within 5s of the next input")
			}
			if l := c.Reader().Len(); l != len("second") {
				t.Fatalf("%d bytes buffered when the callback ran, want %d", l, len("second"))
			}
		})
	}
}

// TestNotifyInputCancelWhileClaimed: in the case above the poller takes
// hold of the registration, finds nothing to read and lets it go again.
// A NotifyInput(nil) that lands while it holds it cancels it for good:
// the next input runs nothing. Before registrations were claimed rather
// than taken, the poller put the cancelled callback back, and it ran at
// the next input.
func TestNotifyInputCancelWhileClaimed(t *testing.T) {
	skipStd(t, "its watcher, not a poller, reads for NotifyInput")
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithTrigger(trig))
			unblock := holdInputForReader(t, c, cl)

			inWindow := make(chan struct{})
			var once sync.Once
			hook := func(hc *Conn) {
				if hc == c {
					once.Do(func() {
						c.NotifyInput(nil)
						close(inWindow)
					})
				}
			}
			testHookUnclaim.Store(&hook)
			defer testHookUnclaim.Store(nil)

			n := newNotified()
			c.NotifyInput(n.f) // nothing buffered: registers
			unblock()
			testutil.Receive(t, inWindow, 5*time.Second, "the poller's release of the registration it found with nothing to read")
			if notifies.has(c) {
				t.Fatal("a registration cancelled while the poller held it is registered again")
			}
			if _, err := cl.Write([]byte("second")); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 16)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, err := c.Read(b)
			if err != nil || string(b[:k]) != "second" {
				t.Fatalf("Read = %q, %v; want \"second\"", b[:k], err)
			}
			if n.wait(200 * time.Millisecond) {
				t.Fatal("a cancelled callback ran at the next input")
			}
		})
	}
}

// TestNotifyInputReplacedWhileClaimed: a NotifyInput with a new callback
// that lands while the poller holds the old one replaces it: the next
// input runs the new one, once, and never the old one.
func TestNotifyInputReplacedWhileClaimed(t *testing.T) {
	skipStd(t, "its watcher, not a poller, reads for NotifyInput")
	c, cl := acceptPair(t)
	unblock := holdInputForReader(t, c, cl)

	old, repl := newNotified(), newNotified()
	inWindow := make(chan struct{})
	var once sync.Once
	hook := func(hc *Conn) {
		if hc == c {
			once.Do(func() {
				c.NotifyInput(repl.f)
				close(inWindow)
			})
		}
	}
	testHookUnclaim.Store(&hook)
	defer testHookUnclaim.Store(nil)

	c.NotifyInput(old.f)
	unblock()
	testutil.Receive(t, inWindow, 5*time.Second, "the poller's release of the registration it found with nothing to read")
	if repl.wait(100 * time.Millisecond) {
		t.Fatal("the new callback ran before any input")
	}
	if _, err := cl.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	if !repl.wait(5 * time.Second) {
		t.Fatal("the new callback did not run within 5s of the next input")
	}
	if old.wait(200*time.Millisecond) || len(repl.ch) != 0 {
		t.Fatal("the replaced callback ran, or the new one ran twice")
	}
}

// holdInputForReader sets up the window of the tests above: a reader
// blocks in c.Read, the client sends "first", the poller wakes the
// reader and is held (testHookInput) before it looks for a registration
// while the reader takes the input. Calling the returned function lets
// the poller go on (the tests call it after they register).
func holdInputForReader(t *testing.T, c *Conn, cl net.Conn) (unblock func()) {
	t.Helper()
	held, release := make(chan struct{}), make(chan struct{})
	var holdOnce, releaseOnce sync.Once
	hook := func(hc *Conn) {
		if hc == c {
			holdOnce.Do(func() { close(held); <-release })
		}
	}
	testHookInput.Store(&hook)
	unblock = func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(func() { unblock(); testHookInput.Store(nil) })

	got := make(chan string, 1)
	go func() {
		b := make([]byte, 16)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b[:n])
	}()
	time.Sleep(20 * time.Millisecond) // the reader blocks first
	if _, err := cl.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, held, 5*time.Second, "wake-up of the reader by the poller")
	if s := testutil.Receive(t, got, 5*time.Second, "Read"); s != "first" {
		t.Fatalf("Read = %q, want \"first\"", s)
	}
	return unblock
}
