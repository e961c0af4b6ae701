package buffer

import (
	"bytes"
	"runtime/debug"
	"testing"
)

type countReleaser struct{ n int }

func (r *countReleaser) ReleaseForeign(uintptr) { r.n++ }

// WriteForeign promises that the node is never written into. MallocAck
// that drops the end of a foreign node leaves len(buf) > wp: the next
// write must still go into a node of the buffer's own, not into the
// owner's memory.
func TestMallocAckForeignNotWrittenInto(t *testing.T) {
	owner := []byte("FOREIGN!")
	keep := append([]byte(nil), owner...)
	r := &countReleaser{}
	b := New()
	if err := b.WriteForeign(owner, r, 1); err != nil {
		t.Fatal(err)
	}
	// Keep all but the last 2 foreign bytes.
	if err := b.MallocAck(len(owner) - 2); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteString("xy"); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(owner, keep) {
		t.Errorf("foreign bytes written into: owner now %q, was %q", owner, keep)
	}
	got := drain(t, b)
	if string(got) != "FOREIGxy" {
		t.Errorf("read %q, want %q", got, "FOREIGxy")
	}
	b.Close()
	if r.n != 1 {
		t.Errorf("foreign bytes released %d times, want 1", r.n)
	}
}

// Book after the same MallocAck must not hand the owner's memory to readv.
func TestBookNotIntoForeign(t *testing.T) {
	owner := []byte("FOREIGN!")
	r := &countReleaser{}
	b := New()
	if err := b.WriteForeign(owner, r, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.MallocAck(0); err != nil {
		t.Fatal(err)
	}
	vecs := b.Book(4, nil)
	for _, v := range vecs {
		if len(v) > 0 && &v[0] == &owner[0] {
			t.Errorf("Book handed out the foreign bytes for writing")
		}
	}
	b.BookAck(0)
	b.Close()
	if r.n != 1 {
		t.Errorf("foreign bytes released %d times, want 1", r.n)
	}
}

// A buffer made by Slice has a sealed tail. When its producer opens a batch
// (mark = that sealed tail) and the consumer, having drained it, releases
// while the batch is open, Release must keep the mark node: freed, Flush
// walked from it and never published the new bytes (Len counted them, the
// node did not), and Close walked past the end of the list.
func TestSliceWriteReleaseFlush(t *testing.T) {
	run := func(t *testing.T, closeInstead bool) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		b := New()
		b.WriteString("hello world")
		b.Flush()
		s, err := b.Slice(5)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(5); err != nil { // drain the sealed tail view
			t.Fatal(err)
		}
		if _, err := s.WriteString("abc"); err != nil { // batch: mark = sealed view
			t.Fatal(err)
		}
		if err := s.Release(); err != nil { // consumer, batch open
			t.Fatal(err)
		}
		if closeInstead {
			s.Close()
			return
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		if s.Len() != 3 {
			t.Fatalf("Len = %d", s.Len())
		}
		got, err := s.Next(3)
		if err != nil || string(got) != "abc" {
			t.Fatalf("Next = %q, %v", got, err)
		}
	}
	t.Run("flush", func(t *testing.T) { run(t, false) })
	t.Run("close", func(t *testing.T) { run(t, true) })
}
