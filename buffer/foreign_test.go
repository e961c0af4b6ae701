package buffer

import (
	"bytes"
	"sync"
	"testing"
)

// scribbler lends bytes to buffers through WriteForeign and overwrites
// them when they are given back, so a buffer that reads them after
// releasing them returns garbage that the caller's check catches.
type scribbler struct {
	mu       sync.Mutex
	lent     map[uintptr][]byte
	orig     map[uintptr][]byte // a copy of each lent slice, as lent
	released map[uintptr]int
	written  []uintptr // tags whose bytes had changed when released
	next     uintptr
}

func newScribbler() *scribbler {
	return &scribbler{lent: map[uintptr][]byte{}, orig: map[uintptr][]byte{}, released: map[uintptr]int{}}
}

// lend records p and returns its tag.
func (s *scribbler) lend(p []byte) uintptr {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	s.lent[s.next] = p
	s.orig[s.next] = bytes.Clone(p)
	return s.next
}

// ReleaseForeign records the release, notes whether the buffer wrote into
// the lent bytes (WriteForeign promises it never does), and scribbles on
// them, so that a read after the release shows.
func (s *scribbler) ReleaseForeign(tag uintptr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.released[tag]++
	if s.released[tag] == 1 && !bytes.Equal(s.lent[tag], s.orig[tag]) {
		s.written = append(s.written, tag)
	}
	for i := range s.lent[tag] {
		s.lent[tag][i] = 0xee
	}
}

// count returns how often tag was released.
func (s *scribbler) count(tag uintptr) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.released[tag]
}

// check fails unless every lent tag was released exactly once.
func (s *scribbler) check(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for tag := range s.lent {
		if n := s.released[tag]; n != 1 {
			t.Errorf("foreign bytes %d released %d times, want 1", tag, n)
		}
	}
	for tag := range s.released {
		if s.lent[tag] == nil {
			t.Errorf("release of tag %d that was never lent", tag)
		}
	}
	for _, tag := range s.written {
		t.Errorf("foreign bytes %d were written into while lent", tag)
	}
}

func lendTo(t *testing.T, b *LinkBuffer, s *scribbler, p []byte) uintptr {
	t.Helper()
	tag := s.lend(p)
	if err := b.WriteForeign(p, s, tag); err != nil {
		t.Fatalf("WriteForeign: %v", err)
	}
	return tag
}

func TestWriteForeignReleasedAfterRead(t *testing.T) {
	live := liveNodes.Load()
	s := newScribbler()
	b := New()
	b.WriteString("head-")
	p := []byte("foreign bytes")
	tag := lendTo(t, b, s, p)
	b.WriteString("-tail")
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := b.Next(5 + 7)
	if err != nil || string(got) != "head-foreign" {
		t.Fatalf("Next = %q, %v", got, err)
	}
	b.Release()
	if n := s.count(tag); n != 0 {
		t.Fatalf("released %d times while 6 of its bytes were unread", n)
	}
	rest, _ := b.Next(b.Len())
	if string(rest) != " bytes-tail" {
		t.Fatalf("rest = %q", rest)
	}
	if &p[0] != &b.head.buf[0] {
		t.Error("the foreign bytes were copied")
	}
	b.Release()
	if n := s.count(tag); n != 1 {
		t.Fatalf("released %d times after Release of every byte, want 1", n)
	}
	b.Close()
	s.check(t)
	checkLive(t, live)
}

func TestWriteForeignHeldBySlice(t *testing.T) {
	live := liveNodes.Load()
	s := newScribbler()
	b := New()
	tag := lendTo(t, b, s, []byte("0123456789"))
	b.Flush()
	b.Skip(2)
	sl, err := b.Slice(6)
	if err != nil {
		t.Fatal(err)
	}
	b.Skip(2)
	b.Release()
	b.Close()
	if n := s.count(tag); n != 0 {
		t.Fatalf("released %d times while a Slice holds its bytes", n)
	}
	// A Slice of the Slice and an Append keep it too.
	sub, _ := sl.Slice(3)
	o := New()
	if err := o.Append(sl); err != nil {
		t.Fatal(err)
	}
	o.Flush()
	sl.Close()
	if got := drain(t, sub); string(got) != "234" {
		t.Fatalf("sub-slice = %q", got)
	}
	sub.Close()
	if n := s.count(tag); n != 0 {
		t.Fatalf("released %d times while an appended view holds its bytes", n)
	}
	if got := drain(t, o); string(got) != "567" {
		t.Fatalf("appended = %q", got)
	}
	o.Close()
	if n := s.count(tag); n != 1 {
		t.Fatalf("released %d times after the last view went, want 1", n)
	}
	s.check(t)
	checkLive(t, live)
}

func TestWriteForeignReleasedOnClose(t *testing.T) {
	live := liveNodes.Load()
	s := newScribbler()

	unread := New()
	tag1 := lendTo(t, unread, s, []byte("never read"))
	unread.Flush()
	unread.Close()
	if n := s.count(tag1); n != 1 {
		t.Errorf("unread bytes released %d times by Close, want 1", n)
	}

	// Close during the producer's batch leaves the batch to its Flush.
	batch := New()
	tag2 := lendTo(t, batch, s, []byte("unflushed"))
	batch.Close()
	if err := batch.Flush(); err != ErrClosed {
		t.Errorf("Flush after Close: %v", err)
	}
	if n := s.count(tag2); n != 1 {
		t.Errorf("unflushed bytes released %d times by Close and Flush, want 1", n)
	}

	freed := New()
	tag3 := lendTo(t, freed, s, []byte("freed"))
	freed.Free()
	if n := s.count(tag3); n != 1 {
		t.Errorf("unflushed bytes released %d times by Free, want 1", n)
	}

	// Refused: released before WriteForeign returns.
	p := []byte("refused")
	tag4 := s.lend(p)
	if err := unread.WriteForeign(p, s, tag4); err != ErrClosed {
		t.Errorf("WriteForeign on a closed buffer: %v", err)
	}
	if n := s.count(tag4); n != 1 {
		t.Errorf("refused bytes released %d times, want 1", n)
	}
	tag5 := s.lend([]byte{})
	if err := New().WriteForeign(nil, s, tag5); err != nil {
		t.Errorf("WriteForeign(nil): %v", err)
	}
	s.check(t)
	checkLive(t, live)
}

// Writes after WriteForeign go to nodes of the buffer's own: the foreign
// bytes' spare capacity is not the buffer's to fill.
func TestWriteForeignNotWrittenInto(t *testing.T) {
	s := newScribbler()
	backing := bytes.Repeat([]byte{'x'}, 64)
	b := New()
	lendTo(t, b, s, backing[:8])
	b.WriteString("after")
	vecs := b.Book(100, nil)
	copy(vecs[0], "booked")
	b.BookAck(6)
	if !bytes.Equal(backing[8:], bytes.Repeat([]byte{'x'}, 56)) {
		t.Fatalf("spare capacity of the foreign bytes written: %q", backing[8:])
	}
	if got := drain(t, b); string(got) != "xxxxxxxxafterbooked" {
		t.Fatalf("read %q", got)
	}
	b.Close()
	s.check(t)
}

func TestWriteForeignConcurrentRelease(t *testing.T) {
	s := newScribbler()
	b := New()
	var wg sync.WaitGroup
	const rounds = 200
	slices := make(chan *LinkBuffer, rounds)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sl := range slices {
			p, err := sl.Next(sl.Len())
			if err != nil || len(p) != 16 || p[0] == 0xee {
				t.Errorf("slice read %q, %v", p, err)
			}
			sl.Close()
		}
	}()
	for i := range rounds {
		p := pattern(i*16, 16)
		lendTo(t, b, s, p)
		b.Flush()
		sl, err := b.Slice(16)
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
		slices <- sl
	}
	close(slices)
	wg.Wait()
	b.Close()
	s.check(t)
}
