package rpcload

import (
	"sync/atomic"
	"testing"
	"time"
)

// countingClient answers every call after a short latency and counts
// the calls answered: what the server's own counters count.
type countingClient struct{ answered atomic.Uint64 }

func (c *countingClient) Call(_ int, arg []byte) ([]byte, error) {
	time.Sleep(time.Millisecond)
	c.answered.Add(1)
	return append([]byte(nil), arg...), nil
}
func (c *countingClient) Close() error { return nil }

// The parent reads the server's counters at mark(0) and, taking its
// time, at mark(1), and takes their rate over its own interval times
// the window: the calls must go on until mark(1) has read them, or a
// slow reading (300 ms here, as long as the window) halves the count
// per call.
func TestFix30CallsGoOnThroughTheLastMark(t *testing.T) {
	cl := &countingClient{}
	var (
		at    [2]time.Time
		count [2]uint64
	)
	mark := func(i int) {
		if i == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		at[i], count[i] = time.Now(), cl.answered.Load()
	}
	const window = 300 * time.Millisecond
	tal, err := Run(cl, Load{Conns: 4, Inflight: 2, Size: 16, Warmup: 50 * time.Millisecond, Window: window}, mark)
	if err != nil {
		t.Fatal(err)
	}
	interval := at[1].Sub(at[0]).Seconds()
	perCall := float64(count[1]-count[0]) / interval * window.Seconds() / float64(tal.Calls)
	t.Logf("%d calls in the window; %d answered over %.3f s between the marks: %.2f per call", tal.Calls, count[1]-count[0], interval, perCall)
	if perCall < 0.8 || perCall > 1.25 {
		t.Fatalf("answers per call %.2f, want about 1: the calls stopped before the last mark's reading", perCall)
	}
}
