package netpoll

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestHostileStatsBlockedFlush: a writer flushes 1 MiB to a peer
// that never reads and stays blocked in Flush (no write timeout). Flush
// has not returned, so bytes of that batch are unsent, held by the
// connection. Contract: netpoll/stats.go:32 PollerStats.BufferedOut
// "bytes of unsent output queued now"; docs/memory.md:22-24 "`Stats` (and
// expvar) show the state: `BufferedIn`, `BufferedOut`, ..."; and the
// budget counts what BufferedOut counts (netpoll/budget.go:23-29). While
// Flush is blocked, BufferedOut must be above zero.
func TestHostileStatsBlockedFlush(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			s, addr, conns := startAccept(t, WithBackend(be), WithMaxOutput(64<<10))
			hostilePeer(t, addr)
			c := recvConn(t, conns)
			w := c.Writer()
			// A deadline far enough for the look below, near enough to end the Flush.
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			done := make(chan error, 1)
			msg := make([]byte, 1<<20)
			go func() {
				var err error
				for i := 0; i < 32 && err == nil; i++ { // until one blocks: 32 MiB at most
					if _, err = w.WriteBinary(msg); err == nil {
						err = w.Flush()
					}
				}
				done <- err
			}()
			var st Stats
			blocked, still := false, 0
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				select {
				case err := <-done:
					t.Fatalf("32 MiB flushed to a peer that does not read: %v", err)
				default:
				}
				prev := st
				st = s.Stats()
				if st.BytesOut == 0 || st.BytesOut != prev.BytesOut {
					still = 0
				} else if still++; still == 10 {
					blocked = true // no progress for 200 ms: Flush is waiting
					break
				}
			}
			defer func() {
				c.Close()
				if err := <-done; err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Logf("Flush ended with %v", err)
				}
			}()
			if !blocked {
				t.Fatal("the output did not stop within 3 s")
			}
			t.Logf("Flush blocked: BufferedOut %d, BytesOut %d", st.BufferedOut, st.BytesOut)
			if st.BufferedOut <= 0 {
				t.Fatalf("a Flush is blocked on unsent output, yet Stats.BufferedOut = %d", st.BufferedOut)
			}
		})
	}
}
