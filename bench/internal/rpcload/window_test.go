package rpcload

import (
	"sync/atomic"
	"testing"
	"time"
)

// slowClient answers every call after a fixed latency and counts the
// answers it delivered while the window was open (between mark(0) and mark(1)).
type slowClient struct {
	lat   time.Duration
	open  atomic.Bool
	inWin atomic.Uint64
}

func (c *slowClient) Call(_ int, arg []byte) ([]byte, error) {
	time.Sleep(c.lat)
	if c.open.Load() {
		c.inWin.Add(1)
	}
	return append([]byte(nil), arg...), nil
}
func (c *slowClient) Close() error { return nil }

// TestCountsCallsAnsweredInWindow: Calls should be the calls
// answered inside the window (as the echo/http workloads count, and as
// Tally.Calls documents: "the calls answered ... inside the window").
func TestCountsCallsAnsweredInWindow(t *testing.T) {
	cl := &slowClient{lat: 50 * time.Millisecond}
	var t0, t1 time.Time
	mark := func(i int) {
		if i == 0 {
			t0 = time.Now()
			cl.open.Store(true)
		} else {
			cl.open.Store(false)
			t1 = time.Now()
		}
	}
	tal, err := Run(cl, Load{Conns: 10, Inflight: 10, Size: 16, Warmup: 100 * time.Millisecond, Window: 400 * time.Millisecond}, mark)
	if err != nil {
		t.Fatal(err)
	}
	win := t1.Sub(t0).Seconds()
	t.Logf("window %.3fs: answered in window %d (%.0f/s), counted %d (%.0f/s)",
		win, cl.inWin.Load(), float64(cl.inWin.Load())/win, tal.Calls, float64(tal.Calls)/win)
	if got, want := float64(tal.Calls), float64(cl.inWin.Load()); got < 0.95*want {
		t.Fatalf("Calls = %d, but %d calls were answered inside the window: %.0f%% undercount",
			tal.Calls, cl.inWin.Load(), 100*(1-got/want))
	}
}
