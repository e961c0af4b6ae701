package netpoll

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/internal/testutil"
)

// TestFlushShortWriteSendsEachByteOnce flushes a batch that nothing queued
// precedes and that the kernel takes only part of: Flush writes it from
// its node, and the rest must be queued behind exactly what went out.
// Sent twice or skipped, the peer's bytes differ from the batches; Stats
// would count the bytes twice.
func TestFlushShortWriteSendsEachByteOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int // first batch: within MaxOutput (Flush returns, the poller sends the rest) or above (Flush waits for room)
	}{
		{"within-bound", DefaultMaxOutput - 8<<10},
		{"above-bound", 3 * DefaultMaxOutput},
	} {
		for _, trig := range allTriggers {
			t.Run(tc.name+"/"+trig.String(), func(t *testing.T) {
				s, addr, conns := startAccept(t, WithTrigger(trig))
				cl := dialTCP(t, addr)
				cl.SetReadBuffer(16 << 10)
				c := recvConn(t, conns)
				defer c.Close()
				c.SetWriteBuffer(16 << 10)
				base := s.Stats().BytesOut

				w := c.Writer()
				first, err := w.Malloc(tc.size) // one node: contiguous
				if err != nil {
					t.Fatal(err)
				}
				for i := range first {
					first[i] = byte(i*7 + i/251)
				}
				want := append([]byte(nil), first...)
				second := bytes.Repeat([]byte("queued behind the first batch's rest "), 3)
				got := make(chan []byte, 1)
				go func() {
					cl.SetReadDeadline(time.Now().Add(10 * time.Second))
					b, _ := io.ReadAll(io.LimitReader(cl, int64(tc.size+len(second))))
					got <- b
				}()
				// Within the bound Flush returns with the rest queued, and
				// the peer's 16 KiB window cannot have taken the batch;
				// above it, Flush waits until the peer has read enough.
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				if _, err := w.WriteBinary(second); err != nil {
					t.Fatal(err)
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				want = append(want, second...)
				wantPeerBytes(t, got, want)
				// The peer may hold the last bytes before the poller has
				// counted their send (io_uring counts a ring send at its
				// completion, which the poller reaps after the kernel
				// has delivered them): wait for the count, never past it.
				var sent uint64
				testutil.WaitFor(2*time.Second, func() bool {
					sent = s.Stats().BytesOut - base
					return sent >= uint64(len(want))
				})
				if sent != uint64(len(want)) {
					t.Fatalf("Stats.BytesOut grew by %d, want %d", sent, len(want))
				}
			})
		}
	}
}

// TestFlushDirectFreesBatch flushes small batches on an idle connection,
// each sent whole from its node: each node goes back to the pool, the
// peer gets each batch once, and a Flush after the connection is closed
// fails as before and frees its batch.
func TestFlushDirectFreesBatch(t *testing.T) {
	c, cl := acceptPair(t)
	live := buffer.LiveNodes()
	w := c.Writer()
	for i := range 50 {
		msg := []byte{byte(i), 'x', 'y', byte(i)}
		if _, err := w.WriteBinary(msg); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if n := buffer.LiveNodes(); n != live {
			t.Fatalf("after Flush %d: %d nodes live, want %d", i, n, live)
		}
		cl.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, 4)
		if _, err := io.ReadFull(cl, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("read %d: %q, %v; want %q", i, got, err, msg)
		}
	}
	if _, err := w.WriteBinary([]byte("late")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := w.Flush(); err == nil {
		t.Fatal("Flush after Close succeeded")
	}
	if n := buffer.LiveNodes(); n != live {
		t.Fatalf("after a Flush on a closed Conn: %d nodes live, want %d", n, live)
	}
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(cl); len(b) != 0 {
		t.Fatalf("the peer got %q after Close; want nothing", b)
	}
}

// TestFlushDeadlineKeepsUnsentBatch flushes a batch that nothing queued
// precedes under a write deadline that passes while the peer reads
// nothing (a Write filled the socket first): Flush fails with the
// timeout, the batch stays queued, and the Close that follows sends it,
// each byte once. The batch is small, so that BackendStd too
// takes its direct path (stdFlushDirect) and queues what its write did
// not send; on the native backends the write finds the socket full.
func TestFlushDeadlineKeepsUnsentBatch(t *testing.T) {
	c, cl := acceptPair(t)
	cl.SetReadBuffer(16 << 10)
	c.SetWriteBuffer(16 << 10)
	fill := make([]byte, 4<<20)
	for i := range fill {
		fill[i] = byte(i*13 + i/241)
	}
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := c.Write(fill)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write of 4 MiB to a peer that reads nothing = %d, %v; want a timeout", n, err)
	}
	want := append([]byte(nil), fill[:n]...)
	w := c.Writer()
	batch, err := w.Malloc(12 << 10) // below BackendStd's stdAccountMin
	if err != nil {
		t.Fatal(err)
	}
	for i := range batch {
		batch[i] = byte(i*5 + 1)
	}
	want = append(want, batch...)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if err := w.Flush(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Flush to a full socket past the deadline = %v, want a timeout", err)
	}
	// Queued, not left in the writer's batch: the Close sends it (a
	// batch never flushed would be dropped).
	got := make(chan []byte, 1)
	go func() {
		cl.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(cl)
		got <- b
	}()
	c.Close()
	wantPeerBytes(t, got, want)
}

// wantPeerBytes waits (15 s at most) for what the peer read and
// compares it with want.
func wantPeerBytes(t *testing.T, got <-chan []byte, want []byte) {
	t.Helper()
	var b []byte
	select {
	case b = <-got:
	case <-time.After(15 * time.Second):
		t.Fatal("the peer's read did not end")
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("peer got %d bytes, want %d; first difference at %d", len(b), len(want), firstDiff(b, want))
	}
}
