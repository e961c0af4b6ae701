package buffer

import (
	"bytes"
	"sync"
	"testing"
)

// A Close that overlaps the producer's open batch leaves the batch's
// nodes to the producer's Flush (flushClosed). The first of them, the
// tail when the batch began, may also hold published bytes that the
// consumer took with Next and still holds: the slice must keep its bytes
// after the Flush, as after a Close with no batch open
// (TestCloseKeepsLentSlices), and not see the next buffer's.
func TestCloseKeepsLentSlicesOfOpenBatch(t *testing.T) {
	live := liveNodes.Load()
	for round := range 50 {
		b := New()
		b.WriteBinary(bytes.Repeat([]byte("A"), 64))
		b.Flush()
		p, err := b.Next(64) // lent: a slice of the tail node
		if err != nil {
			t.Fatal(err)
		}
		q, err := b.Malloc(16) // a batch opens on the same node
		if err != nil {
			t.Fatal(err)
		}
		copy(q, bytes.Repeat([]byte("C"), 16))
		b.Close() // the consumer's owner closes; the batch is the producer's
		if err := b.Flush(); err != ErrClosed {
			t.Fatalf("Flush after Close = %v, want ErrClosed", err)
		}
		o := New()
		o.WriteBinary(bytes.Repeat([]byte("B"), minNodeSize))
		o.Flush()
		if !bytes.Equal(p, bytes.Repeat([]byte("A"), 64)) {
			t.Fatalf("round %d: a slice held across Close reads %q: its node went to another buffer", round, p[:8])
		}
		o.Close()
	}
	checkLive(t, live)
}

// Two buffers that share a node (Slice) and both hold slices of it
// (Next) close on two goroutines: each abandons its reference, and
// neither may write the shared node without synchronization (go test
// -race reports it).
func TestAbandonSharedNodeConcurrently(t *testing.T) {
	live := liveNodes.Load()
	for range 20 {
		b := New()
		b.Write(bytes.Repeat([]byte("A"), 128))
		s, err := b.Slice(64) // s shares b's node
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Next(32); err != nil { // b lent
			t.Fatal(err)
		}
		if _, err := s.Next(32); err != nil { // s lent
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); b.Close() }()
		go func() { defer wg.Done(); s.Close() }()
		wg.Wait()
	}
	checkLive(t, live)
}
