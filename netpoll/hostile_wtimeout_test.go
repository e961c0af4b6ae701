package netpoll

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// hostilePeer dials addr with the smallest receive buffer and never reads.
func hostilePeer(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	tc := nc.(*net.TCPConn)
	tc.SetReadBuffer(4 << 10)
	t.Cleanup(func() { tc.Close() })
	return tc
}

// TestHostileWriteTimeoutRetryBounded: a net.Conn caller whose
// Write times out and retries with p[n:], as Write's doc invites
// (netpoll/netconn.go:56-57: "A caller that retries with p[n:] thus sends
// every byte once"), against a peer that never reads. The timeout is the
// WriteTimeout option, or a fresh SetWriteDeadline before each Write (the
// usual Go idiom). Write's doc (netpoll/netconn.go:51-52): "What the
// kernel refuses waits in the outbound buffer, at most MaxOutput of it at
// a time." The queued output must stay within MaxOutput however often
// the caller retries.
func TestHostileWriteTimeoutRetryBounded(t *testing.T) {
	const maxOut = 64 << 10
	const wait = 20 * time.Millisecond
	for _, be := range testBackends(true) {
		for _, perCall := range []bool{false, true} {
			name := be.String() + "/WriteTimeout"
			opts := []Option{WithBackend(be), WithMaxOutput(maxOut)}
			if perCall {
				name = be.String() + "/SetWriteDeadline"
			} else {
				opts = append(opts, WithWriteTimeout(wait))
			}
			t.Run(name, func(t *testing.T) {
				s, addr, conns := startAccept(t, opts...)
				hostilePeer(t, addr)
				c := recvConn(t, conns)
				defer c.Close()
				p := make([]byte, 1<<20)
				rest := p
				var worst int64
				deadline := time.Now().Add(3 * time.Second)
				timeouts := 0
				for i := 0; i < 40 && time.Now().Before(deadline); i++ {
					if perCall {
						c.SetWriteDeadline(time.Now().Add(wait))
					}
					n, err := c.Write(rest)
					if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatalf("Write %d: %d, %v", i, n, err)
					}
					if err != nil {
						timeouts++
					}
					if rest = rest[n:]; len(rest) == 0 {
						rest = p
					}
					if out := s.Stats().BufferedOut; out > worst {
						worst = out
					}
					if worst > 8*maxOut {
						break // conclusive
					}
				}
				t.Logf("%d timed-out Writes; most output queued: %d bytes (MaxOutput %d)", timeouts, worst, maxOut)
				if timeouts == 0 {
					t.Fatal("no Write timed out: the peer's kernel took everything")
				}
				if worst > maxOut {
					t.Fatalf("queued output reached %d bytes, over MaxOutput %d", worst, maxOut)
				}
			})
		}
	}
}

// TestHostileFlushTimeoutLoopBounded: a writer that queues one 32 KiB
// message and flushes it, over and over, to a peer that never
// reads, under the WriteTimeout option; it ignores the timeouts (a
// broadcaster that drops a slow subscriber's turn). Writer's doc
// (netpoll/writer.go:9-10): "Flush blocks only while more than MaxOutput
// bytes are queued, until the write deadline or timeout"; Config.MaxOutput
// (netpoll/options.go:231): "MaxOutput bounds the unsent output per
// connection in bytes". Writer's doc bounds what such a writer makes
// the connection hold, queued and in its batch: MaxOutput, the batch
// whose flush timed out and the first write of the next.
func TestHostileFlushTimeoutLoopBounded(t *testing.T) {
	const maxOut, batch = 64 << 10, 32 << 10
	for _, be := range testBackends(true) {
		for _, async := range []bool{false, true} {
			name := be.String() + "/Flush"
			if async {
				name = be.String() + "/FlushAsync"
			}
			t.Run(name, func(t *testing.T) {
				s, addr, conns := startAccept(t, WithBackend(be), WithMaxOutput(maxOut),
					WithWriteTimeout(10*time.Millisecond))
				hostilePeer(t, addr)
				c := recvConn(t, conns)
				defer c.Close()
				w := c.Writer()
				msg := make([]byte, batch)
				var worst int64
				timeouts := 0
				deadline := time.Now().Add(time.Second)
				for i := 0; i < 400 && time.Now().Before(deadline); i++ {
					// A write that would grow a batch waiting for room
					// times out too, like the flush.
					_, err := w.WriteBinary(msg)
					if err == nil {
						if async {
							err = w.FlushAsync()
						} else {
							err = w.Flush()
						}
					}
					if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Fatalf("flush %d: %v", i, err)
					}
					if err != nil {
						timeouts++
					}
					// The batch not yet flushed is the connection's
					// memory too.
					if out := s.Stats().BufferedOut + int64(w.MallocLen()); out > worst {
						worst = out
					}
					if worst > 8*(maxOut+batch) {
						break // conclusive
					}
				}
				t.Logf("%d timed-out flushes; most output queued: %d bytes (MaxOutput %d + batch %d)",
					timeouts, worst, maxOut, batch)
				if timeouts == 0 {
					t.Fatal("no flush timed out")
				}
				// Writer's bound: MaxOutput, the batch whose flush
				// timed out, and the first write of the next one.
				if worst > maxOut+2*batch {
					t.Fatalf("output held reached %d bytes, over MaxOutput %d + two batches of %d", worst, maxOut, batch)
				}
			})
		}
	}
}
