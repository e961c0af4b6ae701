package netpoll

import (
	"errors"
	"math"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
)

// TestHostileFlushAsyncLoop: a writer queues 32 KiB and calls
// FlushAsync, over and over, to a peer that never reads, with no timeout
// (an absolute deadline ends the test). Writer.FlushAsync's doc
// (netpoll/writer.go:40-44): "It returns at once, unless more than
// MaxOutput bytes would be queued: then it flushes and waits for room as
// Flush does, so a peer that does not read holds at most MaxOutput bytes
// of the connection's output plus one batch." Sampled after every call,
// the output queued must never pass MaxOutput plus the batch, and the
// loop must block (hit the deadline) rather than run through.
func TestHostileFlushAsyncLoop(t *testing.T) {
	const maxOut, batch = 64 << 10, 32 << 10
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			s, addr, conns := startAccept(t, WithBackend(be), WithMaxOutput(maxOut))
			hostilePeer(t, addr)
			c := recvConn(t, conns)
			defer c.Close()
			w := c.Writer()
			msg := make([]byte, batch)
			c.SetWriteDeadline(time.Now().Add(1500 * time.Millisecond))
			var worst int64
			var err error
			calls := 0
			for ; calls < 1024 && err == nil; calls++ { // 32 MiB at most
				if _, err = w.WriteBinary(msg); err == nil {
					err = w.FlushAsync()
				}
				if out := s.Stats().BufferedOut; out > worst {
					worst = out
				}
			}
			t.Logf("%d calls, ended by %v; most output queued %d (MaxOutput %d + batch %d)", calls, err, worst, maxOut, batch)
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("FlushAsync loop to a peer that does not read ended with %v after %d calls, want the deadline", err, calls)
			}
			if worst > maxOut+batch {
				t.Fatalf("%d bytes queued, over MaxOutput %d plus one batch %d", worst, maxOut, batch)
			}
		})
	}
}

// TestHostileMallocTooLarge: a handler that sizes Writer.Malloc by
// a peer's length prefix asks for more than a batch may hold, or a
// negative size. Writer's doc (netpoll/writer.go:13-15): "A batch holds at
// most 1 GiB: a write past that fails with buffer.ErrTooLarge and writes
// nothing". The call must fail without allocating the size asked for.
func TestHostileMallocTooLarge(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(be))
			hostilePeer(t, addr)
			c := recvConn(t, conns)
			defer c.Close()
			w := c.Writer()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for _, n := range []int{buffer.MaxBatch + 1, 1<<31 - 1, min(1<<40, math.MaxInt)} {
				if b, err := w.Malloc(n); !errors.Is(err, buffer.ErrTooLarge) || b != nil {
					t.Fatalf("Malloc(%d) = %d bytes, %v; want buffer.ErrTooLarge", n, len(b), err)
				}
			}
			if b, err := w.Malloc(-1); err == nil || b != nil {
				t.Fatalf("Malloc(-1) = %d bytes, %v; want an error", len(b), err)
			}
			runtime.ReadMemStats(&after)
			if grew := int64(after.TotalAlloc) - int64(before.TotalAlloc); grew > 16<<20 {
				t.Fatalf("refused Mallocs allocated %d bytes", grew)
			}
			if n := w.MallocLen(); n != 0 {
				t.Fatalf("MallocLen = %d after refused Mallocs, want 0", n)
			}
		})
	}
}
