package netpoll

import (
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestWakeNeverSticks hammers a poller's wake-up from several goroutines
// and then checks that the wake flag has come back to zero and a last
// wake-up still reaches the poller. If the poller cleared the flag before
// reading the eventfd, a wake-up landing in between would be consumed
// without its event, leave the flag set for good, and every later kick
// (an edge-triggered connection resuming after backpressure) would be
// lost.
func TestWakeNeverSticks(t *testing.T) {
	skipStd(t, "the pollset wake-up")
	for _, wait := range allWaits {
		t.Run(wait.String(), func(t *testing.T) {
			s, err := NewServer(nil, WithPollers(1), WithWait(wait))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := s.pollers[0]
			rounds := 20000
			if testing.Short() {
				rounds = 5000
			}
			deadline := time.Now().Add(20 * time.Second)
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < rounds && time.Now().Before(deadline); i++ {
						p.wake()
						if i%64 == 0 {
							time.Sleep(time.Microsecond)
						}
					}
				}()
			}
			testutil.WaitGroup(t, &wg, 60*time.Second, "the wakers")
			if !testutil.WaitFor(2*time.Second, func() bool { return p.wakeFlag.Load() == 0 }) {
				t.Fatalf("wake flag stuck set after %d wakeups handled", p.ctr.wakeups.Load())
			}
			before := p.ctr.wakeups.Load()
			p.wake()
			if !testutil.WaitFor(2*time.Second, func() bool { return p.ctr.wakeups.Load() > before }) {
				t.Fatal("a wake-up after the storm never reached the poller")
			}
		})
	}
}
