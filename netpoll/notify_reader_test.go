package netpoll

import (
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
			held, release := make(chan struct{}), make(chan struct{})
			var holdOnce, releaseOnce sync.Once
			hook := func(hc *Conn) {
				if hc == c {
					holdOnce.Do(func() { close(held); <-release })
				}
			}
			testHookInput.Store(&hook)
			defer testHookInput.Store(nil)
			unblock := func() { releaseOnce.Do(func() { close(release) }) }
			defer unblock()

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
