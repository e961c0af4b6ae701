package buffer

import (
	"sync"
	"testing"
	"time"
)

// The empty-list protocol (ownedBit) step by step: a Release that empties
// the list hands it to the producer, whose batches on it open without
// batchOpen and whose empty batches drop their nodes without mu, until a
// publish hands the list back.
func TestOwnedEmptyList(t *testing.T) {
	live := liveNodes.Load()
	b := New()
	b.WriteString("first") // a new buffer is not owned: mu, batchOpen
	if v := b.length.Load(); v&batchOpen == 0 || v&ownedBit != 0 {
		t.Fatalf("batch on a new buffer: length %#x, want batchOpen and not owned", v)
	}
	b.Flush()
	if p, _ := b.Next(5); string(p) != "first" {
		t.Fatalf("Next = %q", p)
	}
	b.Release()
	if v := b.length.Load(); v != ownedBit || nodeCount(b) != 0 {
		t.Fatalf("after the Release that emptied it: length %#x, %d nodes; want owned, none", v, nodeCount(b))
	}

	// An answer sent from its node: written, dropped, still owned.
	b.WriteString("answer")
	if v := b.length.Load(); v != ownedBit {
		t.Fatalf("owned batch: length %#x, want ownedBit alone", v)
	}
	if p := b.Unflushed(); string(p) != "answer" {
		t.Fatalf("Unflushed = %q", p)
	}
	b.MallocAck(0)
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if v := b.length.Load(); v != ownedBit || nodeCount(b) != 0 || liveNodes.Load() != live {
		t.Fatalf("after the drop: length %#x, %d nodes, %d live; want owned, none, %d", v, nodeCount(b), liveNodes.Load(), live)
	}

	// A read that found nothing, then one that found bytes.
	vecs := b.Book(100, nil)
	if len(vecs) != 1 {
		t.Fatalf("Book: %d slices", len(vecs))
	}
	b.BookAck(0)
	if v := b.length.Load(); v != ownedBit || nodeCount(b) != 0 {
		t.Fatalf("after BookAck(0): length %#x, %d nodes", v, nodeCount(b))
	}
	vecs = b.Book(100, nil)
	copy(vecs[0], "input")
	b.BookAck(5)
	if v := b.length.Load(); v != 5 {
		t.Fatalf("after BookAck(5): length %#x, want 5 and not owned", v)
	}
	if p, _ := b.Next(5); string(p) != "input" {
		t.Fatalf("Next = %q", p)
	}

	// Not drained: the list stays the consumer's.
	b.WriteString("ab")
	b.Flush()
	b.Next(1)
	b.Release()
	if v := b.length.Load(); v&ownedBit != 0 {
		t.Fatalf("a Release that left a byte: length %#x, owned", v)
	}
	b.Next(1)
	b.Release()

	// A Close that meets an owned batch leaves it to Flush.
	b.WriteString("late")
	if v := b.length.Load(); v != ownedBit {
		t.Fatalf("owned batch: length %#x", v)
	}
	b.Close()
	if err := b.Flush(); err != ErrClosed {
		t.Fatalf("Flush after Close = %v, want ErrClosed", err)
	}
	if _, err := b.WriteString("x"); err != ErrClosed {
		t.Fatalf("write after Close = %v, want ErrClosed", err)
	}
	checkLive(t, live)
}

// A batch opened under mu (Malloc(0): begin) on an owned list takes the
// list back from the ownership, and a Flush that leaves the list empty
// hands it over again.
func TestOwnedEndsWithLockedBatch(t *testing.T) {
	live := liveNodes.Load()
	b := New()
	b.WriteString("x")
	b.MallocAck(0)
	b.Flush() // trimmed under mu: the list is empty, owned from now on
	if v := b.length.Load(); v != ownedBit {
		t.Fatalf("after a locked Flush that emptied the list: length %#x, want owned", v)
	}
	b.Malloc(0)
	if v := b.length.Load(); v != batchOpen {
		t.Fatalf("batch opened under mu: length %#x, want batchOpen alone", v)
	}
	b.WriteString("yz")
	b.Flush()
	if b.Len() != 2 {
		t.Fatalf("Len = %d", b.Len())
	}
	b.Close()
	checkLive(t, live)
}

// One producer alternating owned batches that publish with ones it drops
// (an answer sent from its node, a read that found nothing), one consumer
// reading, releasing and, at the end, closing while the producer writes.
// Every byte published is read in order; LiveNodes comes back. Run it
// under -race: the producer's unlocked links and the consumer's Release
// and Close must not meet.
func TestOwnedRacesConsumer(t *testing.T) {
	live := liveNodes.Load()
	end := time.Now().Add(time.Second)
	for round := 0; round < 200 && time.Now().Before(end); round++ {
		b := New()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := 0
			var vecs [][]byte
			for i := 0; i < 20_000; i++ {
				n := 1 + (i*7+round)%100
				switch i % 4 {
				case 0, 1: // publish
					if _, err := b.WriteBinary(pattern(off, n)); err != nil {
						return
					}
					if err := b.Flush(); err != nil {
						return
					}
					off += n
				case 2: // an answer sent whole: dropped
					if _, err := b.WriteBinary(pattern(0, n)); err != nil {
						return
					}
					b.MallocAck(0)
					if err := b.Flush(); err != nil {
						return
					}
				case 3: // a read that found nothing, or some bytes
					vecs = b.Book(n, vecs)
					if len(vecs) == 0 {
						return
					}
					k := 0
					if i%8 == 7 {
						k = copy(vecs[0], pattern(off, n))
					}
					if err := b.BookAck(k); err != nil {
						return
					}
					off += k
				}
			}
		}()
		off := 0
		for i := 0; i < 20_000; i++ {
			if n := b.Len(); n > 0 {
				p, err := b.Next(n)
				if err != nil {
					t.Fatalf("round %d: Next(%d): %v", round, n, err)
				}
				checkStream(t, "Next", p, off)
				off += n
			}
			if err := b.Release(); err != nil {
				t.Fatalf("round %d: Release: %v", round, err)
			}
			if i == 100+round*50 {
				break
			}
		}
		b.Close()
		wg.Wait()
	}
	checkLive(t, live)
}
