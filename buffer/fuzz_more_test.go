package buffer

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzLinkBufferMore drives the model of FuzzLinkBuffer with every op of
// that target plus the ops it lacks: WriteTo, ReadFrom, Write, Close and
// Free during an open write batch, Append of views (of another buffer, of
// a Slice of a Slice, of the buffer's own bytes), the buffer as an Append
// source, and writes that cancel a Book. FuzzLinkBuffer uses every value
// of its op byte, so the new ops live in a target of their own, which
// leaves that target's corpus meaning what it meant. Each op is two bytes,
// op and argument; op%32 selects: 0-19 the ops of FuzzLinkBuffer, 20 its
// Slice-and-carry-on op (adopt), 21 its WriteForeign, 22-31 the ops of
// stepMore.
func FuzzLinkBufferMore(f *testing.F) {
	f.Add([]byte{0, 10, 4, 0, 22, 0, 23, 70, 9, 0, 22, 5})
	f.Add([]byte{0, 100, 9, 0, 25, 3, 27, 64, 0, 9, 28, 1, 4, 0, 6, 200})
	f.Add([]byte{21, 70, 9, 0, 29, 200, 30, 1, 4, 0, 26, 0, 31, 0, 23, 130})
	f.Fuzz(func(t *testing.T, ops []byte) {
		live := liveNodes.Load()
		m := newModel()
		bigs := 0
		for i := 0; i+1 < len(ops) && i < 2000; i += 2 {
			if tooBig(ops[i+1], &bigs) {
				continue
			}
			switch op := ops[i] % 32; {
			case op < 20:
				m.step(t, op, ops[i+1])
			case op == 20:
				m.step(t, 220, ops[i+1])
			case op == 21:
				m.step(t, 240, ops[i+1])
			default:
				m.stepMore(t, op-22, ops[i+1])
			}
		}
		m.finish(t)
		checkLive(t, live)
	})
}

var errFuzz = errors.New("fuzz: planned error")

// budgetWriter accepts budget bytes in all, however they are split into
// calls, then ends the way mode says: 1, a short count with errFuzz; 2, a
// short count with no error; 3, a count larger than asked for. Mode 0 has
// no budget.
type budgetWriter struct {
	got    []byte
	budget int
	mode   int
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	if w.mode == 0 || len(p) <= w.budget {
		w.got = append(w.got, p...)
		w.budget -= len(p)
		return len(p), nil
	}
	k := w.budget
	switch w.mode {
	case 1:
		w.got = append(w.got, p[:k]...)
		w.budget = 0
		return k, errFuzz
	case 2:
		w.got = append(w.got, p[:k]...)
		w.budget = 0
		return k, nil
	default:
		return len(p) + 1, nil
	}
}

// fuzzReader returns data in reads of at most chunk bytes and ends the way
// mode says: 0, io.EOF with the last bytes; 1, errFuzz with the last bytes;
// 2, a count larger than the slice it was given, in a call of its own; 3,
// errFuzz in a call of its own. Without data, 0 and 1 end at the first call.
type fuzzReader struct {
	data  []byte
	chunk int
	mode  int
}

func (r *fuzzReader) Read(p []byte) (int, error) {
	end := [...]error{io.EOF, errFuzz, nil, errFuzz}[r.mode]
	if len(r.data) == 0 {
		if r.mode == 2 {
			return len(p) + 1, nil
		}
		return 0, end
	}
	k := min(len(p), r.chunk, len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	if len(r.data) == 0 && r.mode < 2 {
		return k, end
	}
	return k, nil
}

// publish is what every publishing write does to the model: the pending
// bytes become readable, followed by p.
func (m *model) publish(p []byte) {
	m.flush()
	m.ready.Write(p)
	m.off += len(p)
}

// stepMore runs op (0-9) of the ops that FuzzLinkBuffer lacks, with
// argument arg, and checks the buffer against the model.
func (m *model) stepMore(t *testing.T, op, arg byte) {
	t.Helper()
	b := m.b
	n := size(arg)
	switch op {
	case 0: // WriteTo a writer with a budget; it releases
		m.checkHeld(t)
		// The stream offset varies the mode, so that a budget of 0 (arg 0
		// or 0x80) can end in each way.
		w := &budgetWriter{budget: n, mode: (int(arg) + m.off) % 4}
		all := m.ready.Len()
		k, err := b.WriteTo(w)
		m.held, m.heldW = nil, nil
		if int(k) != len(w.got) {
			t.Fatalf("WriteTo = %d, writer took %d", k, len(w.got))
		}
		mustEqual(t, "WriteTo", w.got, m.ready.Bytes()[:len(w.got)])
		switch {
		case w.mode == 0 || n >= all:
			if k != int64(all) || err != nil {
				t.Fatalf("WriteTo of %d, budget %d, mode %d = %d, %v; want all, nil", all, n, w.mode, k, err)
			}
		case w.mode == 1:
			if k != int64(n) || err != errFuzz {
				t.Fatalf("WriteTo of %d, budget %d = %d, %v; want %d, errFuzz", all, n, k, err, n)
			}
		case w.mode == 2:
			if k != int64(n) || err != io.ErrShortWrite {
				t.Fatalf("WriteTo of %d, budget %d, short = %d, %v; want %d, ErrShortWrite", all, n, k, err, n)
			}
		default: // the bad count takes nothing of its segment
			if k > int64(n) || err != io.ErrShortWrite {
				t.Fatalf("WriteTo of %d, budget %d, bad count = %d, %v; want <= %d, ErrShortWrite", all, n, k, err, n)
			}
		}
		m.ready.Next(int(k))
	case 1: // ReadFrom a reader ending in io.EOF, an error or a bad count
		data := pattern(m.off, n)
		// The stream offset varies the mode, so that an empty read (arg 0
		// or 0x80) can end in each way.
		r := &fuzzReader{data: data, chunk: 1 + int(arg)*53%6000, mode: (int(arg) + m.off) % 4}
		k, err := b.ReadFrom(r)
		want := [...]error{nil, errFuzz, errNegativeRead, errFuzz}[r.mode]
		if k != int64(n) || err != want {
			t.Fatalf("ReadFrom(%d bytes, mode %d) = %d, %v; want %d, %v", n, r.mode, k, err, n, want)
		}
		if n > 0 || r.mode != 2 {
			m.publish(data)
		} // else the bad first Read returned before publishing anything
	case 2: // Write: WriteBinary and Flush
		p := pattern(m.off, n)
		if k, err := b.Write(p); k != n || err != nil {
			t.Fatalf("Write(%d) = %d, %v", n, k, err)
		}
		m.publish(p)
	case 3: // Close during an open batch, then the producer's calls
		m.closeMidBatch(t, arg)
	case 4: // Free with an open batch
		m.freeMidBatch(t, arg)
	case 5: // Append a buffer of views, foreign bytes and an open batch
		m.appendViews(t, arg)
	case 6: // Append a Slice (and a Slice of it) of the buffer's own bytes
		k := min(n, m.ready.Len())
		s, err := b.Slice(k)
		if err != nil {
			t.Fatalf("Slice(%d): %v", k, err)
		}
		moved := m.ready.Next(k)
		src := s
		if k > 0 && arg&1 != 0 {
			// A Slice of the Slice, without the first byte and (when there
			// is one more) the last.
			inner := k - 1 - min(1, k-1)
			if _, err := s.Next(1); err != nil {
				t.Fatal(err)
			}
			if src, err = s.Slice(inner); err != nil {
				t.Fatal(err)
			}
			moved = moved[1 : 1+inner]
		}
		moved = bytes.Clone(moved)
		if err := b.Append(src); err != nil {
			t.Fatalf("Append of its own %d bytes: %v", len(moved), err)
		}
		if src.Len() != 0 || nodeCount(src) != 0 {
			t.Fatalf("Append left %d bytes, %d nodes in the source", src.Len(), nodeCount(src))
		}
		m.pending = append(m.pending, moved...)
		if src != s {
			src.Close()
		}
		s.Close()
	case 7: // the buffer as an Append source: it releases
		m.checkHeld(t)
		c := New()
		c.WriteString("<") // c's own open batch goes first
		all := bytes.Clone(m.ready.Bytes())
		pend := b.MallocLen()
		if err := c.Append(b); err != nil {
			t.Fatalf("Append of the buffer under test: %v", err)
		}
		m.held, m.heldW = nil, nil
		m.ready.Reset()
		if b.Len() != 0 || b.MallocLen() != pend {
			t.Fatalf("source after Append: Len %d MallocLen %d, want 0 %d", b.Len(), b.MallocLen(), pend)
		}
		if err := c.Flush(); err != nil {
			t.Fatal(err)
		}
		mustEqual(t, "Append of the buffer under test", drain(t, c), append([]byte("<"), all...))
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	case 8: // a write cancels an outstanding Book
		m.cancelBook(t, arg)
	case 9: // Append that must fail and change nothing
		before, pend := b.Len(), b.MallocLen()
		if err := b.Append(b); err != ErrSelfAppend {
			t.Fatalf("Append(self) = %v", err)
		}
		if err := b.Append(nil); err != ErrSelfAppend {
			t.Fatalf("Append(nil) = %v", err)
		}
		c := New()
		c.WriteString("closed")
		c.Flush()
		c.Close()
		if err := b.Append(c); err != ErrClosed {
			t.Fatalf("Append(closed) = %v", err)
		}
		if b.Len() != before || b.MallocLen() != pend {
			t.Fatalf("failed Append changed Len %d -> %d, MallocLen %d -> %d", before, b.Len(), pend, b.MallocLen())
		}
	}
	if b := m.b; b.Len() != m.ready.Len() || b.MallocLen() != len(m.pending) {
		t.Fatalf("more op %d: Len %d MallocLen %d, want %d %d", op, b.Len(), b.MallocLen(), m.ready.Len(), len(m.pending))
	}
}

// carryOn moves every readable byte of the buffer under test into a Slice,
// which becomes the buffer under test, and returns the old buffer: its
// unpublished bytes are the caller's to lose.
func (m *model) carryOn(t *testing.T) *LinkBuffer {
	t.Helper()
	old := m.b
	s, err := old.Slice(m.ready.Len())
	if err != nil {
		t.Fatalf("Slice(%d): %v", m.ready.Len(), err)
	}
	m.b = s
	m.pending = m.pending[:0]
	m.malloc = nil
	return old
}

// openBatch writes 1 to 64 bytes so that a batch is open, and, when book is
// set, books more space after them; it returns the booked slices.
func (m *model) openBatch(t *testing.T, b *LinkBuffer, arg byte, book bool) [][]byte {
	t.Helper()
	p := pattern(m.off, 1+int(arg)%64)
	if _, err := b.WriteBinary(p); err != nil {
		t.Fatalf("WriteBinary(%d): %v", len(p), err)
	}
	m.off += len(p)
	if !book {
		return nil
	}
	vecs := b.Book(size(arg), nil)
	if len(vecs) == 0 {
		t.Fatal("Book on an open buffer gave nothing")
	}
	return vecs
}

// checkDead checks a buffer after Close and Flush, or after Free: it holds
// nothing and refuses every call.
func checkDead(t *testing.T, b *LinkBuffer) {
	t.Helper()
	if b.Len() != 0 || nodeCount(b) != 0 {
		t.Fatalf("dead buffer: Len %d, %d nodes", b.Len(), nodeCount(b))
	}
	if _, err := b.Next(0); err != ErrClosed {
		t.Fatalf("Next(0) on a dead buffer: %v", err)
	}
	if err := b.Flush(); err != ErrClosed {
		t.Fatalf("Flush on a dead buffer: %v", err)
	}
	if k, err := b.WriteString("x"); k != 0 || err != ErrClosed {
		t.Fatalf("WriteString on a dead buffer: %d, %v", k, err)
	}
	if vecs := b.Book(10, nil); len(vecs) != 0 {
		t.Fatalf("Book on a dead buffer gave %d slices", len(vecs))
	}
	if k, err := b.ReadFrom(&fuzzReader{data: []byte("abc"), chunk: 1}); k != 0 || err != ErrClosed {
		t.Fatalf("ReadFrom on a dead buffer: %d, %v", k, err)
	}
	if k, err := b.WriteTo(io.Discard); k != 0 || err != ErrClosed {
		t.Fatalf("WriteTo on a dead buffer: %d, %v", k, err)
	}
	if err := b.Close(); err != ErrClosed {
		t.Fatalf("Close of a dead buffer: %v", err)
	}
	if b.Len() != 0 || b.MallocLen() != 0 {
		t.Fatalf("dead buffer after calls: Len %d MallocLen %d", b.Len(), b.MallocLen())
	}
}

// closeMidBatch carries on with a Slice, then closes the old buffer while
// its producer has a batch open (and, for some arg, a Book outstanding),
// and goes on with that producer: arg%4 picks Flush, BookAck into the
// booked space, another write, or Free.
func (m *model) closeMidBatch(t *testing.T, arg byte) {
	t.Helper()
	m.checkHeld(t)
	m.held, m.heldW = nil, nil
	b := m.carryOn(t)
	vecs := m.openBatch(t, b, arg, arg%4 == 1)
	if err := b.Close(); err != nil {
		t.Fatalf("Close with a batch open: %v", err)
	}
	if b.Len() != 0 {
		t.Fatalf("Len after Close = %d", b.Len())
	}
	switch arg % 4 {
	case 0:
		if err := b.Flush(); err != ErrClosed {
			t.Fatalf("Flush after Close: %v", err)
		}
	case 1: // the producer's readv lands after the Close
		k := 0
		for _, v := range vecs {
			k += copy(v, pattern(m.off+k, len(v)))
		}
		if err := b.BookAck(k); err != ErrClosed {
			t.Fatalf("BookAck(%d) after Close: %v", k, err)
		}
	case 2: // a write while the batch is open may land or see ErrClosed
		p := pattern(m.off, size(arg))
		k, err := b.WriteBinary(p)
		if err != nil && err != ErrClosed || err == nil && k != len(p) {
			t.Fatalf("WriteBinary(%d) after Close: %d, %v", len(p), k, err)
		}
		if err := b.Flush(); err != ErrClosed {
			t.Fatalf("Flush after Close and a write: %v", err)
		}
	case 3:
		b.Free()
	}
	checkDead(t, b)
	b.Free()
	checkDead(t, b)
}

// freeMidBatch carries on with a Slice, then frees the old buffer with a
// batch open (and, for odd arg, a Book outstanding).
func (m *model) freeMidBatch(t *testing.T, arg byte) {
	t.Helper()
	m.checkHeld(t)
	m.held, m.heldW = nil, nil
	b := m.carryOn(t)
	m.openBatch(t, b, arg, arg&1 != 0)
	b.Free()
	checkDead(t, b)
	b.Free()
	checkDead(t, b)
}

// appendViews appends n bytes held by a buffer made of views: the Slice
// (or, for odd arg, a Slice of that Slice) of a buffer holding junk, a
// foreign run and bytes of its own, followed by bytes that buffer wrote
// itself and by its open batch, which Append must leave where it is.
func (m *model) appendViews(t *testing.T, arg byte) {
	t.Helper()
	n := size(arg)
	p := pattern(m.off, n)
	p1, p2, p3 := p[:n/3], p[n/3:2*n/3], p[2*n/3:]
	junk := 1 + int(arg)%5
	src := New()
	src.WriteString("jjjjj"[:junk])
	if len(p1) > 0 {
		f := bytes.Clone(p1)
		if err := src.WriteForeign(f, m.foreign, m.foreign.lend(f)); err != nil {
			t.Fatal(err)
		}
	}
	src.WriteBinary(p2)
	src.WriteString("after")
	if err := src.Flush(); err != nil {
		t.Fatal(err)
	}
	o, err := src.Slice(junk + len(p1) + len(p2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Next(junk); err != nil {
		t.Fatal(err)
	}
	outer := o
	if arg&1 != 0 {
		if o, err = outer.Slice(len(p1) + len(p2)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := o.Write(p3); err != nil {
		t.Fatal(err)
	}
	o.WriteString("unflushed")
	if err := m.b.Append(o); err != nil {
		t.Fatalf("Append of %d bytes of views: %v", n, err)
	}
	m.write(p)
	if o.Len() != 0 || o.MallocLen() != len("unflushed") {
		t.Fatalf("Append left Len %d MallocLen %d in the source", o.Len(), o.MallocLen())
	}
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, o); string(got) != "unflushed" {
		t.Fatalf("source after Append holds %q", got)
	}
	mustEqual(t, "source's own bytes after the Slice", drain(t, src), []byte("after"))
	o.Close()
	if o != outer {
		outer.Close()
	}
	src.Close()
}

// cancelBook books space, then writes with a call that arg%4 picks
// (WriteBinary, Malloc, WriteForeign, Append): the Book is then cancelled,
// so BookAck of any byte fails and publishes nothing.
func (m *model) cancelBook(t *testing.T, arg byte) {
	t.Helper()
	b := m.b
	vecs := b.Book(size(arg), nil)
	if len(vecs) == 0 {
		t.Fatal("Book gave nothing")
	}
	p := pattern(m.off, 1+int(arg)%100)
	switch arg % 4 {
	case 0:
		if _, err := b.WriteBinary(p); err != nil {
			t.Fatal(err)
		}
	case 1:
		q, err := b.Malloc(len(p))
		if err != nil {
			t.Fatal(err)
		}
		copy(q, p)
	case 2:
		if err := b.WriteForeign(p, m.foreign, m.foreign.lend(p)); err != nil {
			t.Fatal(err)
		}
	case 3:
		o := New()
		o.Write(p)
		if err := b.Append(o); err != nil {
			t.Fatal(err)
		}
		o.Close()
	}
	m.write(p)
	before, pend := b.Len(), b.MallocLen()
	if err := b.BookAck(1); err != ErrNotEnough {
		t.Fatalf("BookAck(1) after a write cancelled the Book: %v", err)
	}
	if b.Len() != before || b.MallocLen() != pend {
		t.Fatalf("refused BookAck changed Len %d -> %d, MallocLen %d -> %d", before, b.Len(), pend, b.MallocLen())
	}
}
