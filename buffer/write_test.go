package buffer

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFlushPublishes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(b *LinkBuffer, p []byte) error
	}{
		{"WriteBinary", func(b *LinkBuffer, p []byte) error { _, err := b.WriteBinary(p); return err }},
		{"WriteString", func(b *LinkBuffer, p []byte) error { _, err := b.WriteString(string(p)); return err }},
		{"WriteByte", func(b *LinkBuffer, p []byte) error {
			for _, c := range p {
				if err := b.WriteByte(c); err != nil {
					return err
				}
			}
			return nil
		}},
		{"Malloc", func(b *LinkBuffer, p []byte) error {
			m, err := b.Malloc(len(p))
			copy(m, p)
			return err
		}},
	} {
		for _, n := range []int{0, 1, minNodeSize - 1, minNodeSize, minNodeSize + 1, 3*minNodeSize + 7} {
			live := liveNodes.Load()
			b := New()
			// Leave 10 bytes of the first node's free space in use, so that
			// writes straddle a boundary too.
			b.WriteBinary(pattern(0, 10))
			want := pattern(10, n)
			if err := tc.write(b, want); err != nil {
				t.Fatalf("%s(%d): %v", tc.name, n, err)
			}
			if b.Len() != 0 || b.MallocLen() != n+10 {
				t.Fatalf("%s(%d) before Flush: Len %d, MallocLen %d", tc.name, n, b.Len(), b.MallocLen())
			}
			if err := b.Flush(); err != nil {
				t.Fatal(err)
			}
			if b.Len() != n+10 || b.MallocLen() != 0 {
				t.Fatalf("%s(%d) after Flush: Len %d, MallocLen %d", tc.name, n, b.Len(), b.MallocLen())
			}
			mustEqual(t, tc.name, drain(t, b)[10:], want)
			if nodeCount(b) != 0 {
				t.Fatalf("%s(%d): drained buffer holds %d nodes", tc.name, n, nodeCount(b))
			}
			b.Close()
			checkLive(t, live)
		}
	}
}

func TestMallocContiguous(t *testing.T) {
	b := New()
	defer b.Close()
	for _, n := range []int{1, minNodeSize, minNodeSize + 1, maxNodeSize, maxNodeSize + 1} {
		b.WriteString("x") // the tail is never empty: Malloc must still be contiguous
		p, err := b.Malloc(n)
		if err != nil || len(p) != n || cap(p) != n {
			t.Fatalf("Malloc(%d) = len %d cap %d, %v", n, len(p), cap(p), err)
		}
	}
	if p, err := b.Malloc(0); err != nil || len(p) != 0 {
		t.Fatalf("Malloc(0) = %d, %v", len(p), err)
	}
	if _, err := b.Malloc(-1); err != ErrNegativeCount {
		t.Fatalf("Malloc(-1): %v", err)
	}
}

func TestMallocAck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []int
		keep   int
	}{
		{"keep-all", []int{100}, 100},
		{"keep-none", []int{100}, 0},
		{"cut-in-first", []int{100, minNodeSize}, 50},
		{"cut-at-boundary", []int{minNodeSize, minNodeSize}, minNodeSize},
		{"cut-after-boundary", []int{minNodeSize, minNodeSize}, minNodeSize + 1},
		{"cut-before-boundary", []int{minNodeSize, minNodeSize}, minNodeSize - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := liveNodes.Load()
			b := New()
			b.Write(pattern(0, 5)) // published bytes are never touched
			off := 5
			for _, n := range tc.writes {
				p, _ := b.Malloc(n)
				fillPattern(p, off)
				off += n
			}
			if err := b.MallocAck(b.MallocLen() + 1); err != ErrNotEnough {
				t.Fatalf("MallocAck beyond MallocLen: %v", err)
			}
			if err := b.MallocAck(-1); err != ErrNegativeCount {
				t.Fatalf("MallocAck(-1): %v", err)
			}
			if err := b.MallocAck(tc.keep); err != nil {
				t.Fatal(err)
			}
			if b.MallocLen() != tc.keep {
				t.Fatalf("MallocLen = %d, want %d", b.MallocLen(), tc.keep)
			}
			b.WriteString("!")
			b.Flush()
			want := append(pattern(0, 5+tc.keep), '!')
			mustEqual(t, "after MallocAck", drain(t, b), want)
			if nodeCount(b) != 0 {
				t.Fatalf("holds %d nodes", nodeCount(b))
			}
			b.Close()
			checkLive(t, live)
		})
	}
}

func TestBook(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pre, size int
		ack       int
	}{
		{"empty-small", 0, 100, 100},
		{"empty-zero-size", 0, 0, 1},
		{"empty-large", 0, 64 << 10, 64 << 10},
		{"tail-room", 10, 100, 60},
		{"straddle", minNodeSize - 10, 100, 100},
		{"straddle-partial", minNodeSize - 10, 100, 5},
		{"ack-nothing", 0, 100, 0},
		{"ack-nothing-after-data", 10, minNodeSize, 0},
		{"huge", 0, 3 * maxNodeSize, 3 * maxNodeSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := liveNodes.Load()
			b := New()
			b.Write(pattern(0, tc.pre))
			vecs := b.Book(tc.size, make([][]byte, 0, 4))
			total := 0
			for _, v := range vecs {
				total += len(v)
			}
			if total < max(tc.size, 1) {
				t.Fatalf("Book(%d) = %d bytes in %d slices", tc.size, total, len(vecs))
			}
			data := pattern(tc.pre, tc.ack)
			rest := data
			for _, v := range vecs {
				rest = rest[copy(v, rest):]
			}
			if err := b.BookAck(total + 1); err != ErrNotEnough {
				t.Fatalf("BookAck beyond booked: %v", err)
			}
			if err := b.BookAck(-1); err != ErrNegativeCount {
				t.Fatalf("BookAck(-1): %v", err)
			}
			if b.Len() != tc.pre {
				t.Fatal("a failed BookAck published bytes")
			}
			if err := b.BookAck(tc.ack); err != nil {
				t.Fatal(err)
			}
			if b.Len() != tc.pre+tc.ack {
				t.Fatalf("Len after BookAck = %d, want %d", b.Len(), tc.pre+tc.ack)
			}
			if tc.pre == 0 && tc.ack == 0 && nodeCount(b) != 0 {
				t.Fatalf("BookAck(0) on an empty buffer kept %d nodes", nodeCount(b))
			}
			mustEqual(t, "booked bytes", drain(t, b), pattern(0, tc.pre+tc.ack))
			if nodeCount(b) != 0 {
				t.Fatalf("holds %d nodes", nodeCount(b))
			}
			b.Close()
			checkLive(t, live)
		})
	}
	b := New()
	if err := b.BookAck(1); err != ErrNotEnough {
		t.Fatalf("BookAck without Book: %v", err)
	}
	b.Book(10, nil)
	b.WriteString("x") // cancels the Book
	if err := b.BookAck(1); err != ErrNotEnough {
		t.Fatalf("BookAck after another write: %v", err)
	}
}

func TestAppend(t *testing.T) {
	live := liveNodes.Load()
	b, o := New(), New()
	b.Write([]byte("head:"))
	o.Write(pattern(0, minNodeSize+3))
	o.WriteString("unflushed")
	if err := b.Append(o); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 0 {
		t.Fatalf("source Len %d after Append", o.Len())
	}
	if b.Len() != 5 {
		t.Fatal("appended bytes readable before Flush")
	}
	b.WriteString(":tail")
	b.Flush()
	want := append(append([]byte("head:"), pattern(0, minNodeSize+3)...), ":tail"...)
	got, _ := b.Peek(b.Len())
	mustEqual(t, "after Append", got, want)
	// The source may go on writing; its unflushed bytes were not taken.
	o.Flush()
	if s, _ := o.ReadString(o.Len()); s != "unflushed" {
		t.Fatalf("source kept %q", s)
	}
	o.Close()
	mustEqual(t, "after source Close", drain(t, b), want)
	if err := b.Append(b); err != ErrSelfAppend {
		t.Fatalf("self Append: %v", err)
	}
	if err := b.Append(nil); err != ErrSelfAppend {
		t.Fatalf("nil Append: %v", err)
	}
	b.Close()
	checkLive(t, live)
}

func TestSliceOutlivesParent(t *testing.T) {
	live := liveNodes.Load()
	b := New()
	want := pattern(0, 3*minNodeSize)
	b.Write(want)
	s1, _ := b.Slice(minNodeSize + 10)
	s2, _ := s1.Slice(20) // a slice of a slice
	b.Release()
	b.Close()
	// Overwrite freed memory: pooled nodes are reused by new buffers.
	junk := New()
	junk.Write(bytes.Repeat([]byte{0xff}, 4*minNodeSize))
	mustEqual(t, "slice of slice", drain(t, s2), want[:20])
	mustEqual(t, "slice", drain(t, s1), want[20:minNodeSize+10])
	// Writing into a slice never overwrites the shared node's spare room.
	s1.WriteString("more")
	s1.Flush()
	if got, _ := s1.ReadString(4); got != "more" {
		t.Fatalf("write into slice read back %q", got)
	}
	s1.Close()
	s2.Close()
	junk.Close()
	checkLive(t, live)
}

func TestReadFromWrite(t *testing.T) {
	b := New()
	want := pattern(0, 5*minNodeSize+3)
	n, err := b.ReadFrom(bytes.NewReader(want))
	if err != nil || n != int64(len(want)) || b.Len() != len(want) {
		t.Fatalf("ReadFrom = %d, %v, Len %d", n, err, b.Len())
	}
	mustEqual(t, "ReadFrom", drain(t, b), want)

	_, err = b.ReadFrom(io.MultiReader(strings.NewReader("ab"), errReader{}))
	if !errors.Is(err, errBoom) || b.Len() != 2 {
		t.Fatalf("ReadFrom error: %v, Len %d", err, b.Len())
	}
	if _, err := b.ReadFrom(badReader{}); err == nil {
		t.Fatal("ReadFrom accepted an invalid count")
	}
	// io.Copy uses ReadFrom/WriteTo and must not loop on itself.
	var out bytes.Buffer
	b2 := New()
	if _, err := io.Copy(b2, strings.NewReader("copy")); err != nil {
		t.Fatal(err)
	}
	// strings.Reader writes through io.WriteString, which calls WriteString:
	// like WriteBinary, it needs a Flush.
	if err := b2.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(&out, b2); err != nil || out.String() != "copy" {
		t.Fatalf("io.Copy out = %q, %v", out.String(), err)
	}
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

type badReader struct{}

func (badReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

// TestBatchBound checks that a write batch stops at MaxBatch with
// ErrTooLarge, writing nothing, and that the buffer works on after a
// Flush. (Every write checks the bound with the
// same fits call; Malloc is the one that can be asked for more than
// MaxBatch without a slice of that size.)
func TestBatchBound(t *testing.T) {
	b := new(LinkBuffer)
	defer b.Free()
	if _, err := b.Malloc(MaxBatch + 1); err != ErrTooLarge {
		t.Fatalf("Malloc(MaxBatch+1) = %v, want ErrTooLarge", err)
	}
	if err := b.WriteByte('a'); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Malloc(MaxBatch); err != ErrTooLarge {
		t.Fatalf("Malloc(MaxBatch) after one byte = %v, want ErrTooLarge", err)
	}
	if got := b.MallocLen(); got != 1 {
		t.Fatalf("MallocLen after refused writes = %d, want 1", got)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteString("bc"); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "bytes after the refused writes", drain(t, b), []byte("abc"))
}
