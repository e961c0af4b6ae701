package buffer

import (
	"runtime"
	"testing"
)

// A batch that another producer call ended while its builder still held
// a Malloc'd slice (Disown, then a write and Flush of its own): once the
// consumer has drained and released it, a late write into that slice
// must not land in any buffer written since. Without Disown the drained
// node goes back to the pool with its bytes, and the next buffer to take
// a node on this P is given the very bytes the slice points at.
func TestDisownKeepsMallocedBytesOutOfPool(t *testing.T) {
	// One P's pool serves the whole test: each Put below is followed
	// by Gets on the same goroutine, and locking the thread keeps the
	// goroutine where the runtime put it.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const tries = 20
	for i := range tries {
		b := New()
		p, err := b.Malloc(8)
		if err != nil {
			t.Fatal(err)
		}
		b.Disown() // another goroutine's write ends the batch as it stands
		if _, err := b.WriteString("x"); err != nil {
			t.Fatal(err)
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		if got, err := b.Next(9); err != nil || len(got) != 9 || got[8] != 'x' {
			t.Fatalf("Next(9) = %q, %v", got, err)
		}
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}

		// Other buffers take nodes now, from the pool the drained one
		// went to when it was not disowned.
		others := make([]*LinkBuffer, 4)
		for j := range others {
			o := New()
			o.WriteString("other's")
			o.Flush()
			others[j] = o
		}
		copy(p, "LATEFILL") // the builder's late fill
		for j, o := range others {
			if got, _ := o.Peek(7); string(got) != "other's" {
				t.Fatalf("try %d: buffer %d holds %q after a late write into a disowned batch's slice, want %q", i, j, got, "other's")
			}
			o.Close()
		}
		b.Close()
	}
}

// Disown on a batch without Malloc'd space, or with none open, keeps
// the nodes' pooled bytes: only a Malloc hands out slices a builder may
// write into late.
func TestDisownOnlyMalloced(t *testing.T) {
	b := New()
	b.Disown() // nothing open
	b.WriteString("copied")
	b.Disown()
	if b.tail.bb.Load() == nil {
		t.Fatal("Disown of a batch of copied bytes detached the node's pooled bytes")
	}
	b.Malloc(4)
	b.Flush() // the batch ends: its Malloc'd space is no longer handed out
	b.WriteString("more")
	b.Disown()
	if b.tail.bb.Load() == nil {
		t.Fatal("Disown of a batch opened after a flushed Malloc detached the node's pooled bytes")
	}
	b.Malloc(4)
	b.Disown()
	if b.tail.bb.Load() != nil {
		t.Fatal("Disown of a batch with Malloc'd space kept the node's pooled bytes")
	}
	b.Flush()
	if got, err := b.Next(18); err != nil || string(got[:6]) != "copied" || string(got[10:14]) != "more" {
		t.Fatalf("Next(18) = %q, %v; want \"copied\", 4 Malloc'd bytes, \"more\", 4 more", got, err)
	}
	b.Release()
	b.Close()
}
