package netpoll

import (
	"testing"
	"time"
)

// TestBudgetHoldsAsConnectionsArrive: peers that flood the echo handler
// and never read, connecting one after another, each once the last has
// stopped growing. A connection's share of a pressed budget is half the
// limit over the connections open at the time, so the first few got a
// large share, filled it with output their peers never take, and kept
// it as later ones came. Under GOMAXPROCS=1 TestHostileEchoFloodBudget
// met this by itself (its peers flood as they connect, while later ones
// are still being accepted): 1.3 MB of output against a 1 MiB budget.
// The Server must stay within its budget plus a read per connection
// whatever the order in which its connections came.
func TestBudgetHoldsAsConnectionsArrive(t *testing.T) {
	echoFlood(t, func(t *testing.T, s *Server, addr string, limit int64, f *flooders) {
		chunk := make([]byte, 64<<10)
		var worst int64
		var st Stats
		sample := func() {
			st = s.Stats()
			worst = max(worst, st.BufferedIn+st.BufferedOut)
		}
		for range floodPeers {
			f.add(t, addr, chunk, 64, 10*time.Second) // 4 MiB at most; stops when the kernel is full
			// Until the buffered bytes stop changing: this peer has
			// taken what the server lets it take.
			prev, still := int64(-1), 0
			for end := time.Now().Add(300 * time.Millisecond); still < 5 && time.Now().Before(end); time.Sleep(3 * time.Millisecond) {
				sample()
				if b := st.BufferedIn + st.BufferedOut; b != prev {
					prev, still = b, 0
				} else {
					still++
				}
			}
		}
		for end := time.Now().Add(200 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			sample()
		}
		t.Logf("budget %d (limit with slack %d), %d peers: most buffered %d; read %d, paused by budget %d, by bound %d",
			floodBudget, limit, floodPeers, worst, st.BytesIn, st.PausedByBudget, st.PausedByBound)
		if worst > limit {
			t.Fatalf("the server buffered %d bytes, over its BufferBudget %d plus a read per connection (%d)",
				worst, floodBudget, limit)
		}
	})
}
