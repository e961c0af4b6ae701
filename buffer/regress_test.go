package buffer

import (
	"bytes"
	"io"
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

// batchReader serves n pattern bytes from stream offset off and fails the
// test if a Read is offered more than the open batch of b may still take:
// ReadFrom must keep the batch within MaxBatch like every other writer.
type batchReader struct {
	t     *testing.T
	b     *LinkBuffer
	off   int
	n     int
	calls int
}

func (r *batchReader) Read(p []byte) (int, error) {
	r.calls++
	if r.b.MallocLen()+len(p) > MaxBatch {
		r.t.Errorf("Read offered %d bytes with %d pending: the batch could pass MaxBatch", len(p), r.b.MallocLen())
	}
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	fillPattern(p[:k], r.off)
	r.off += k
	r.n -= k
	return k, nil
}

// fillBatch writes n bytes to b's open batch without n bytes of memory:
// it links the same 1 MiB foreign slice (released to r) over and over, the
// last time cut to what is left of n. It returns that slice.
func fillBatch(t *testing.T, b *LinkBuffer, r Releaser, n int) []byte {
	t.Helper()
	p := pattern(0, maxNodeSize)
	for left := n; left > 0; {
		k := min(left, len(p))
		if err := b.WriteForeign(p[:k], r, 1); err != nil {
			t.Fatalf("WriteForeign with %d pending: %v", b.MallocLen(), err)
		}
		left -= k
	}
	if b.MallocLen() != n {
		t.Fatalf("MallocLen = %d, want %d", b.MallocLen(), n)
	}
	return p
}

// ReadFrom into a batch near MaxBatch offers the Reader no more than the
// batch may still take, and into a full batch it returns ErrTooLarge
// without reading; what was written and read stays readable, in order.
func TestReadFromBatchBound(t *testing.T) {
	live := liveNodes.Load()
	const room = 100
	rel := &countReleaser{}
	b := New()
	p := fillBatch(t, b, rel, MaxBatch-room)
	before := rel.n
	r := &batchReader{t: t, b: b, n: 3 * minNodeSize}
	n, err := b.ReadFrom(r)
	if n != 3*minNodeSize || err != nil {
		t.Fatalf("ReadFrom near MaxBatch = %d, %v; want %d, nil", n, err, 3*minNodeSize)
	}
	if rel.n != before {
		t.Fatalf("ReadFrom released %d foreign nodes", rel.n-before)
	}
	if got, want := b.Len(), MaxBatch-room+3*minNodeSize; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	// The last foreign node holds p[:len(p)-room]: check its end and the
	// bytes that ReadFrom added after it.
	if err := b.Skip(MaxBatch - room - 10); err != nil {
		t.Fatal(err)
	}
	tail := len(p) - room
	want := append(bytes.Clone(p[tail-10:tail]), pattern(0, 3*minNodeSize)...)
	mustEqual(t, "bytes after ReadFrom near MaxBatch", drain(t, b), want)

	// A full batch: ErrTooLarge, the Reader untouched, the batch intact.
	fillBatch(t, b, rel, MaxBatch)
	r = &batchReader{t: t, b: b, n: 10}
	n, err = b.ReadFrom(r)
	if n != 0 || err != ErrTooLarge {
		t.Fatalf("ReadFrom into a full batch = %d, %v; want 0, ErrTooLarge", n, err)
	}
	if r.calls != 0 {
		t.Fatalf("ReadFrom into a full batch called Read %d times", r.calls)
	}
	if b.MallocLen() != MaxBatch || b.Len() != 0 {
		t.Fatalf("after the refused ReadFrom: MallocLen %d, Len %d; want %d, 0", b.MallocLen(), b.Len(), MaxBatch)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	n, err = b.ReadFrom(r)
	if n != 10 || err != nil {
		t.Fatalf("ReadFrom after Flush = %d, %v; want 10, nil", n, err)
	}
	if err := b.Skip(MaxBatch - 5); err != nil {
		t.Fatal(err)
	}
	want = append(bytes.Clone(p[len(p)-5:]), pattern(0, 10)...)
	mustEqual(t, "bytes after the refused ReadFrom", drain(t, b), want)
	if nodeCount(b) != 0 {
		t.Fatalf("drained buffer holds %d nodes", nodeCount(b))
	}
	b.Close()
	if want := 2 * MaxBatch / maxNodeSize; rel.n != want {
		t.Fatalf("foreign nodes released %d times, want %d", rel.n, want)
	}
	checkLive(t, live)
}
