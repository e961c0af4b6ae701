package netpoll

import (
	"sync"
	"testing"
	"time"
)

// TestHostileIdleNeverReadingPeer: a peer sends up to 32 MiB to the
// echo handler and never reads. Once the kernel's buffers are full nothing
// moves either way: the handler waits in Flush for room that never
// comes, and no byte is read or written. The Server has an idle timeout
// and no write timeout. Contracts: netpoll/options.go:227 Config.IdleTimeout
// "close after no I/O for this long"; netpoll/options.go:351
// WithIdleTimeout "closes connections without I/O for d"; README.md:133
// idletimeout "closing idle connections". The connection, and the
// output it holds, must be gone within a few idle periods.
//
// A connection closed before the server read 1 MiB closed during a stall
// of the loaded machine, before the hostile state was reached: that try
// does not count, and the test tries again (three tries at most).
func TestHostileIdleNeverReadingPeer(t *testing.T) {
	skipInline(t) // its handler waits (in Flush, in Until)
	const idle = 200 * time.Millisecond
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			for try := 1; try <= 3; try++ {
				if hostileIdleTry(t, be, idle) {
					return
				}
			}
			t.Skip("three tries closed before the hostile state was reached (machine stalls)")
		})
	}
}

// hostileIdleTry runs one try of TestHostileIdleNeverReadingPeer; it
// reports false when the try does not count.
func hostileIdleTry(t *testing.T, be Backend, idle time.Duration) bool {
	s, addr := startServer(t, echoHandler, WithBackend(be), WithIdleTimeout(idle),
		WithMaxInput(64<<10), WithMaxOutput(64<<10))
	defer s.Close()
	peer := hostilePeer(t, addr)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer peer.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		peer.SetWriteDeadline(time.Now().Add(8 * time.Second))
		peer.Write(make([]byte, 32<<20)) // stalls once both sides' buffers are full
	}()
	// Wait until the traffic has stopped: the counters stay put.
	var last, st Stats
	stalledSince := time.Now()
	start := time.Now()
	for time.Since(start) < 6*time.Second {
		time.Sleep(20 * time.Millisecond)
		st = s.Stats()
		if st.LiveConns == 0 {
			t.Logf("closed after %v (in %d, out %d bytes moved)", time.Since(start), st.BytesIn, st.BytesOut)
			return st.BytesIn >= 1<<20
		}
		if st.BytesIn != last.BytesIn || st.BytesOut != last.BytesOut {
			stalledSince = time.Now()
		}
		last = st
		if time.Since(stalledSince) > 6*idle {
			break
		}
	}
	t.Fatalf("no I/O for %v (idle timeout %v), yet the connection is open: live %d, %d bytes of output and %d of input held",
		time.Since(stalledSince).Round(time.Millisecond), idle, st.LiveConns, st.BufferedOut, st.BufferedIn)
	return true
}
