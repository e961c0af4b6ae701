package buffer

import (
	"bytes"
	"io"
	"testing"
)

// FuzzLinkBufferModel applies a sequence of operations, decoded from the
// input three bytes at a time (op, selector, argument), to a set of up to
// five LinkBuffers (a first one, the Slices it hands out, fresh ones), and
// to a []byte model of each. Every returned slice is checked against the
// model; slices from Next, Peek, Until and GetBytes must stay intact until
// the Release (or Read, WriteTo, Append-as-source) that invalidates them,
// and, because of the lent mark, past a Close or Free of their buffer until
// the end of the run (foreign bytes excepted: they go back to their
// owner). Slices from Malloc must stay intact and writable until Flush,
// those of Book until BookAck or another write. Foreign bytes are lent by
// a scribbler that counts releases: each once, and none early (it
// scribbles over them when released). At the end every buffer is closed
// and LiveNodes must be back where it started.
func FuzzLinkBufferModel(f *testing.F) {
	f.Add([]byte{0, 0, 10, 5, 0, 0, 10, 0, 5, 19, 0, 0})
	f.Add([]byte{3, 0, 70, 8, 0, 90, 5, 0, 0, 20, 0, 30, 21, 0, 0, 0, 1, 200, 9, 0x10, 0})
	f.Add([]byte{6, 0, 200, 24, 0, 0, 7, 0, 3, 11, 0, 100, 21, 0, 0, 7, 0, 1, 5, 0, 0})
	f.Add([]byte{2, 0, 130, 10, 0, 40, 21, 0, 0, 26, 0, 0, 2, 0, 200, 5, 0, 0, 10, 0, 100})
	f.Add([]byte{8, 0, 70, 5, 0, 0, 20, 0, 64, 9, 0x10, 0, 5, 0, 0, 13, 1, 9, 22, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		live := liveNodes.Load()
		m := &mvModel{t: t, rel: newScribbler()}
		m.add(New())
		bigs := 0
		for i := 0; i+2 < len(in) && i < 3*400; i += 3 {
			if tooBig(in[i+2], &bigs) {
				continue
			}
			m.step(in[i], in[i+1], in[i+2])
			m.check(in[i] % mvOps)
		}
		m.finish()
		checkLive(t, live)
	})
}

type mvHeld struct {
	what    string
	p, want []byte
	foreign bool // some byte is foreign: its owner may scribble after Close
}

type mvMalloc struct {
	p   []byte
	off int // where p starts in pending
}

// mvBuf is one buffer and the model of what it must hold.
type mvBuf struct {
	b           *LinkBuffer
	ready, pend []byte // published unread; written unpublished
	rfor, pfor  []bool // which of those bytes are foreign
	writing     bool   // a write batch is open
	closed      bool
	held        []mvHeld
	mallocs     []mvMalloc
	book        [][]byte // outstanding Book, nil if none
	bookFill    []byte   // bytes written at the start of book
	bookTotal   int
}

type mvModel struct {
	t     *testing.T
	bufs  []*mvBuf
	after []mvHeld // slices handed out before their buffer's Close or Free
	rel   *scribbler
	seed  int
	ops   int
}

const mvOps = 30

func (m *mvModel) add(b *LinkBuffer) *mvBuf {
	mb := &mvBuf{b: b}
	m.bufs = append(m.bufs, mb)
	return mb
}

func (m *mvModel) data(n int) []byte {
	p := pattern(m.seed, n)
	m.seed += n + 1
	return p
}

func anyTrue(f []bool) bool {
	for _, x := range f {
		if x {
			return true
		}
	}
	return false
}

func (mb *mvBuf) write(p []byte, foreign bool) {
	mb.pend = append(mb.pend, p...)
	for range p {
		mb.pfor = append(mb.pfor, foreign)
	}
}

// flushed is the model of a Flush (or a publishing call) that succeeded.
func (mb *mvBuf) flushed() {
	mb.ready = append(mb.ready, mb.pend...)
	mb.rfor = append(mb.rfor, mb.pfor...)
	mb.dropBatch()
}

func (mb *mvBuf) dropBatch() {
	mb.pend, mb.pfor = nil, nil
	mb.mallocs, mb.book, mb.bookFill = nil, nil, nil
	mb.writing = false
}

func (mb *mvBuf) consume(n int) ([]byte, []bool) {
	p, f := mb.ready[:n:n], mb.rfor[:n:n]
	mb.ready, mb.rfor = mb.ready[n:], mb.rfor[n:]
	return p, f
}

func (mb *mvBuf) hold(what string, p, want []byte, f []bool) {
	mb.held = append(mb.held, mvHeld{what, p, bytes.Clone(want), anyTrue(f)})
}

// released: the slices handed out are invalid from now on.
func (mb *mvBuf) released() { mb.held = nil }

// wantErr fails unless err is want.
func (m *mvModel) wantErr(what string, err, want error) {
	m.t.Helper()
	if err != want {
		m.t.Fatalf("%s: err %v, want %v", what, err, want)
	}
}

// closedWrite checks a producer call on a closed buffer: it may succeed
// only inside a batch opened before Close; ok reports whether it did.
func (m *mvModel) closedWrite(mb *mvBuf, what string, n int, err error) (ok bool) {
	m.t.Helper()
	if mb.writing {
		if err != nil && err != ErrClosed {
			m.t.Fatalf("%s in a batch open across Close: %v", what, err)
		}
		if err == nil && n > 0 {
			mb.book = nil // a write cancels the Book
		}
		return err == nil
	}
	m.wantErr(what+" after Close", err, ErrClosed)
	return false
}

func (m *mvModel) step(op, sel, arg byte) {
	t := m.t
	t.Helper()
	if len(m.bufs) == 0 {
		m.add(New())
	}
	mb := m.bufs[int(sel&15)%len(m.bufs)]
	b := mb.b
	n := size(arg)
	switch op % mvOps {
	case 0, 1, 3, 6, 8, 9, 24: // writes: a Book they cancel was intact
		m.bookOK(mb)
	case 2, 4, 5, 7, 23: // publishing or trimming: the batch was intact
		m.batchOK(mb)
	case 17, 18, 19: // Read, WriteTo, Release: what they invalidate was intact
		m.heldOK(mb)
	case 21, 22: // Close, Free
		m.heldOK(mb)
		m.batchOK(mb)
	}
	switch op % mvOps {
	case 0: // WriteBinary
		p := m.data(n)
		k, err := b.WriteBinary(p)
		if mb.closed {
			if m.closedWrite(mb, "WriteBinary", n, err) {
				mb.write(p, false)
			}
			return
		}
		if k != n || err != nil {
			t.Fatalf("WriteBinary(%d) = %d, %v", n, k, err)
		}
		if n > 0 {
			mb.write(p, false)
			mb.writing = true
			mb.book = nil
		}
	case 1: // WriteString or WriteByte
		p := m.data(n)
		var err error
		if n == 1 && sel&16 != 0 {
			err = b.WriteByte(p[0])
		} else {
			var k int
			k, err = b.WriteString(string(p))
			if err == nil && k != n {
				t.Fatalf("WriteString(%d) = %d", n, k)
			}
		}
		if mb.closed {
			if m.closedWrite(mb, "WriteString", n, err) {
				mb.write(p, false)
			}
			return
		}
		if err != nil {
			t.Fatalf("WriteString(%d): %v", n, err)
		}
		if n > 0 {
			mb.write(p, false)
			mb.writing = true
			mb.book = nil
		}
	case 2: // Write: publishes
		p := m.data(n)
		k, err := b.Write(p)
		if mb.closed {
			if err != ErrClosed {
				t.Fatalf("Write(%d) after Close = %d, %v", n, k, err)
			}
			mb.dropBatch()
			return
		}
		if k != n || err != nil {
			t.Fatalf("Write(%d) = %d, %v", n, k, err)
		}
		mb.write(p, false)
		mb.flushed()
	case 3: // Malloc and fill
		p, err := b.Malloc(n)
		if mb.closed {
			if m.closedWrite(mb, "Malloc", n, err) && n > 0 {
				fillPattern(p, m.seed)
				m.seed += n + 1
				mb.mallocs = append(mb.mallocs, mvMalloc{p, len(mb.pend)})
				mb.write(p, false)
			}
			return
		}
		if err != nil || len(p) != n {
			t.Fatalf("Malloc(%d) = %d, %v", n, len(p), err)
		}
		mb.writing = true
		if n > 0 {
			fillPattern(p, m.seed)
			m.seed += n + 1
			mb.mallocs = append(mb.mallocs, mvMalloc{p, len(mb.pend)})
			mb.write(p, false)
			mb.book = nil
		}
	case 4: // MallocAck
		k := int(arg) * 97 % (len(mb.pend) + 2)
		if sel&16 != 0 {
			k = len(mb.pend) - int(arg)%4 // often a few bytes off the end
		}
		err := b.MallocAck(k)
		switch {
		case k < 0:
			m.wantErr("MallocAck(negative)", err, ErrNegativeCount)
		case mb.closed:
			m.wantErr("MallocAck after Close", err, ErrClosed)
		case k > len(mb.pend):
			m.wantErr("MallocAck beyond", err, ErrNotEnough)
		default:
			m.wantErr("MallocAck", err, nil)
			if k < len(mb.pend) {
				mb.book = nil
			}
			mb.pend, mb.pfor = mb.pend[:k], mb.pfor[:k]
			var keep []mvMalloc
			for _, a := range mb.mallocs {
				if a.off >= k {
					continue
				}
				if a.off+len(a.p) > k {
					a.p = a.p[:k-a.off]
				}
				keep = append(keep, a)
			}
			mb.mallocs = keep
		}
	case 5: // Flush
		err := b.Flush()
		if mb.closed {
			m.wantErr("Flush after Close", err, ErrClosed)
			mb.dropBatch()
			return
		}
		m.wantErr("Flush", err, nil)
		mb.flushed()
	case 6: // Book, fill part of it
		size := n
		if sel&16 != 0 {
			size = -int(arg)
		}
		vecs := b.Book(size, make([][]byte, 0, 1))
		total := 0
		for _, v := range vecs {
			total += len(v)
		}
		if mb.closed && !mb.writing {
			if len(vecs) != 0 {
				t.Fatalf("Book after Close gave %d slices", len(vecs))
			}
			return
		}
		if total < max(size, 1) {
			t.Fatalf("Book(%d) gave %d bytes", size, total)
		}
		fill := min(total, int(sel)*41+int(arg))
		p := m.data(fill)
		rest := p
		for _, v := range vecs {
			rest = rest[copy(v, rest):]
		}
		mb.book, mb.bookFill, mb.bookTotal = vecs, p, total
		mb.writing = true
	case 7: // BookAck
		var k int
		switch {
		case mb.book != nil && sel&16 == 0:
			k = int(arg) * 131 % (len(mb.bookFill) + 1)
		case mb.book != nil && sel&32 != 0:
			k = mb.bookTotal + 1 + int(arg)
		default:
			k = int(arg) % 3
			if mb.book != nil { // only the filled bytes have known contents
				k = min(k, len(mb.bookFill))
			}
		}
		err := b.BookAck(k)
		switch {
		case k > 0 && (mb.book == nil || k > mb.bookTotal):
			if mb.closed && !mb.writing {
				m.wantErr("BookAck after Close", err, ErrClosed)
				return
			}
			m.wantErr("BookAck without booked space", err, ErrNotEnough)
		case mb.closed:
			m.wantErr("BookAck after Close", err, ErrClosed)
			mb.dropBatch()
		default:
			m.wantErr("BookAck", err, nil)
			if k > 0 {
				mb.write(mb.bookFill[:k], false)
			}
			mb.flushed()
		}
	case 8: // WriteForeign
		p := m.data(n)
		tag := m.rel.lend(p)
		err := b.WriteForeign(p, m.rel, tag)
		if mb.closed && n > 0 {
			if m.closedWrite(mb, "WriteForeign", n, err) {
				mb.write(p, true)
			} else if c := m.rel.count(tag); c != 1 {
				t.Fatalf("failed WriteForeign released %d times", c)
			}
			return
		}
		if n == 0 && mb.closed && !mb.writing {
			m.wantErr("WriteForeign(empty) after Close", err, ErrClosed)
		} else {
			m.wantErr("WriteForeign", err, nil)
		}
		if n == 0 {
			if c := m.rel.count(tag); c != 1 {
				t.Fatalf("empty WriteForeign released %d times", c)
			}
			return
		}
		mb.write(p, true)
		mb.writing = true
		mb.book = nil
	case 9: // Append another buffer of the set
		src := m.bufs[int(sel>>4)%len(m.bufs)]
		if arg%8 == 0 { // a fresh source with two nodes' worth of bytes
			src = &mvBuf{b: New()}
			p := m.data(n)
			src.b.Write(p[:n/2])
			src.b.Write(p[n/2:])
			src.ready, src.rfor = p, make([]bool, n)
			defer func() {
				if err := src.b.Close(); err != nil {
					t.Fatal(err)
				}
			}()
		}
		m.heldOK(src)
		err := b.Append(src.b)
		switch {
		case src == mb:
			m.wantErr("Append(self)", err, ErrSelfAppend)
		case src.closed:
			m.wantErr("Append(closed source)", err, ErrClosed)
		case mb.closed && !mb.writing:
			m.wantErr("Append into closed", err, ErrClosed)
		default:
			m.wantErr("Append", err, nil)
			mb.writing = true
			if len(src.ready) == 0 {
				return
			}
			src.released()
			p, f := src.consume(len(src.ready))
			mb.pend = append(mb.pend, p...)
			mb.pfor = append(mb.pfor, f...)
			mb.book = nil
			if src.b.Len() != 0 {
				t.Fatalf("Append left %d bytes in its source", src.b.Len())
			}
		}
	case 10, 11: // Next, Peek
		name, f := "Next", b.Next
		if op%mvOps == 11 {
			name, f = "Peek", b.Peek
		}
		if sel&16 != 0 {
			n = len(mb.ready) - int(arg)%3 // up to the end, or past it
		}
		p, err := f(n)
		if m.readErr(mb, name, n, err) {
			if len(p) != 0 {
				t.Fatalf("%s failed with %d bytes", name, len(p))
			}
			return
		}
		want, fr := mb.ready[:n], mb.rfor[:n]
		if name == "Next" {
			want, fr = mb.consume(n)
		}
		mustEqual(t, name, p, want)
		if p == nil {
			t.Fatalf("%s(%d) = nil", name, n)
		}
		if n > 0 {
			mb.hold(name, p, want, fr)
		}
	case 12: // Until
		delim := arg
		if len(mb.ready) > 0 && sel&16 != 0 {
			delim = mb.ready[int(arg)*257%len(mb.ready)]
		}
		p, err := b.Until(delim)
		if mb.closed {
			m.wantErr("Until after Close", err, ErrClosed)
			return
		}
		i := bytes.IndexByte(mb.ready, delim)
		if i < 0 {
			if err != ErrNotEnough || p != nil {
				t.Fatalf("Until with no delim: %d, %v", len(p), err)
			}
			return
		}
		m.wantErr("Until", err, nil)
		want, fr := mb.consume(i + 1)
		mustEqual(t, "Until", p, want)
		mb.hold("Until", p, want, fr)
	case 13: // GetBytes, then Skip part of it
		c := int(arg) % 6
		vecs := b.GetBytes(make([][]byte, 0, c))
		if mb.closed {
			if len(vecs) != 0 {
				t.Fatalf("GetBytes after Close gave %d slices", len(vecs))
			}
			return
		}
		var got []byte
		for _, v := range vecs {
			if len(v) == 0 {
				t.Fatal("GetBytes gave an empty slice")
			}
			got = append(got, v...)
		}
		if len(got) > len(mb.ready) {
			t.Fatalf("GetBytes gave %d bytes of %d", len(got), len(mb.ready))
		}
		mustEqual(t, "GetBytes", got, mb.ready[:len(got)])
		if len(vecs) < c && len(got) != len(mb.ready) {
			t.Fatalf("GetBytes gave %d slices of %d, %d bytes of %d", len(vecs), c, len(got), len(mb.ready))
		}
		off := 0
		for _, v := range vecs {
			mb.hold("GetBytes", v, mb.ready[off:off+len(v)], mb.rfor[off:off+len(v)])
			off += len(v)
		}
		k := len(got) * int(sel>>4) / 15
		m.wantErr("Skip after GetBytes", b.Skip(k), nil)
		mb.consume(k)
	case 14: // Skip
		if sel&16 != 0 {
			n = len(mb.ready) - int(arg)%3
		}
		err := b.Skip(n)
		if m.readErr(mb, "Skip", n, err) {
			return
		}
		mb.consume(n)
	case 15: // ReadByte
		c, err := b.ReadByte()
		if mb.closed {
			m.wantErr("ReadByte after Close", err, ErrClosed)
			return
		}
		if len(mb.ready) == 0 {
			m.wantErr("ReadByte on empty", err, io.EOF)
			return
		}
		m.wantErr("ReadByte", err, nil)
		if w, _ := mb.consume(1); c != w[0] {
			t.Fatalf("ReadByte = %d, want %d", c, w[0])
		}
	case 16: // ReadBinary or ReadString
		if sel&32 != 0 {
			n = len(mb.ready) - int(arg)%3
		}
		var p []byte
		var err error
		if sel&16 != 0 {
			var s string
			s, err = b.ReadString(n)
			p = []byte(s)
		} else {
			p, err = b.ReadBinary(n)
		}
		if m.readErr(mb, "ReadBinary", n, err) {
			return
		}
		want, _ := mb.consume(n)
		mustEqual(t, "ReadBinary", p, want)
	case 17: // Read: copies and releases
		p := make([]byte, n)
		k, err := b.Read(p)
		switch {
		case mb.closed:
			m.wantErr("Read after Close", err, ErrClosed)
		case n == 0:
			if k != 0 || err != nil {
				t.Fatalf("Read(empty) = %d, %v", k, err)
			}
		case len(mb.ready) == 0:
			if k != 0 || err != io.EOF {
				t.Fatalf("Read on empty = %d, %v", k, err)
			}
		default:
			m.wantErr("Read", err, nil)
			want, _ := mb.consume(min(n, len(mb.ready)))
			mustEqual(t, "Read", p[:k], want)
			mb.released()
		}
	case 18: // WriteTo a writer that may stop early
		w := &budgetWriter{budget: n, mode: int(sel>>4) & 1}
		k, err := b.WriteTo(w)
		if mb.closed {
			m.wantErr("WriteTo after Close", err, ErrClosed)
			return
		}
		all := len(mb.ready)
		want := all
		var werr error
		if w.mode == 1 && n < all {
			want, werr = n, errFuzz
		}
		if int(k) != want || err != werr {
			t.Fatalf("WriteTo of %d, budget %d = %d, %v; want %d, %v", all, n, k, err, want, werr)
		}
		p, _ := mb.consume(want)
		mustEqual(t, "WriteTo", w.got, p)
		mb.released()
	case 19: // Release
		err := b.Release()
		if mb.closed {
			m.wantErr("Release after Close", err, ErrClosed)
			return
		}
		m.wantErr("Release", err, nil)
		mb.released()
		if len(mb.ready) == 0 && !mb.writing && nodeCount(b) != 0 {
			t.Fatalf("drained buffer holds %d nodes after Release", nodeCount(b))
		}
	case 20: // Slice, joins the set
		if sel&16 != 0 {
			n = len(mb.ready) - int(arg)%3
		}
		s, err := b.Slice(n)
		if m.readErr(mb, "Slice", n, err) {
			if s != nil {
				t.Fatal("failed Slice returned a buffer")
			}
			return
		}
		p, f := mb.consume(n)
		ns := &mvBuf{b: s, ready: bytes.Clone(p), rfor: append([]bool(nil), f...)}
		if s.Len() != n {
			t.Fatalf("Slice(%d).Len() = %d", n, s.Len())
		}
		if len(m.bufs) < 5 {
			m.bufs = append(m.bufs, ns)
			return
		}
		mustEqual(t, "Slice", drain(t, s), ns.ready)
		m.wantErr("Close of a Slice", s.Close(), nil)
	case 21: // Close
		err := b.Close()
		if mb.closed {
			m.wantErr("second Close", err, ErrClosed)
			return
		}
		m.wantErr("Close", err, nil)
		mb.closed = true
		m.keepAfter(mb)
		mb.ready, mb.rfor = nil, nil
		if !mb.writing {
			mb.dropBatch()
		}
		if b.Len() != 0 {
			t.Fatalf("Len after Close = %d", b.Len())
		}
	case 22: // Free: the buffer leaves the set
		b.Free()
		m.keepAfter(mb)
		for i, x := range m.bufs {
			if x == mb {
				m.bufs = append(m.bufs[:i], m.bufs[i+1:]...)
				break
			}
		}
	case 23: // ReadFrom, publishes
		p := m.data(n)
		r := &fuzzReader{data: p, chunk: 1 + int(arg)*53%6000}
		k, err := b.ReadFrom(r)
		if mb.closed {
			if err != ErrClosed {
				t.Fatalf("ReadFrom after Close = %d, %v", k, err)
			}
			mb.dropBatch()
			return
		}
		if int(k) != n || err != nil {
			t.Fatalf("ReadFrom(%d) = %d, %v", n, k, err)
		}
		mb.write(p, false)
		mb.flushed()
	case 24: // write over a Malloc slice again, until Flush
		if len(mb.mallocs) == 0 {
			return
		}
		a := mb.mallocs[int(arg)%len(mb.mallocs)]
		fillPattern(a.p, m.seed)
		m.seed += len(a.p) + 1
		copy(mb.pend[a.off:], a.p)
	case 25: // bad counts change nothing
		before, pend := b.Len(), b.MallocLen()
		neg := -1 - int(arg)
		if _, err := b.Next(neg); err != ErrNegativeCount {
			t.Fatalf("Next(negative): %v", err)
		}
		if _, err := b.Slice(neg); err != ErrNegativeCount {
			t.Fatalf("Slice(negative): %v", err)
		}
		if err := b.Skip(neg); err != ErrNegativeCount {
			t.Fatalf("Skip(negative): %v", err)
		}
		if _, err := b.Malloc(neg); err != ErrNegativeCount {
			t.Fatalf("Malloc(negative): %v", err)
		}
		if err := b.BookAck(neg); err != ErrNegativeCount {
			t.Fatalf("BookAck(negative): %v", err)
		}
		if b.Len() != before || b.MallocLen() != pend {
			t.Fatalf("bad call changed Len %d -> %d, MallocLen %d -> %d", before, b.Len(), pend, b.MallocLen())
		}
	case 26: // a fresh buffer joins the set
		if len(m.bufs) < 5 {
			m.add(New())
		}
	case 27: // Len from a closed or open buffer, Slice(0), Next(0)
		s, err := b.Slice(0)
		if mb.closed {
			m.wantErr("Slice(0) after Close", err, ErrClosed)
			return
		}
		m.wantErr("Slice(0)", err, nil)
		if s.Len() != 0 {
			t.Fatal("Slice(0) not empty")
		}
		m.wantErr("Close of Slice(0)", s.Close(), nil)
		p, err := b.Next(0)
		if err != nil || p == nil || len(p) != 0 {
			t.Fatalf("Next(0) = %v, %v", p, err)
		}
	case 28: // Unflushed: the batch in place, when it is all there is
		p := b.Unflushed()
		if p == nil {
			return // also for a batch over several nodes, which the model does not track
		}
		if mb.closed || len(mb.ready) != 0 {
			t.Fatalf("Unflushed returned %d bytes (closed %v, %d readable)", len(p), mb.closed, len(mb.ready))
		}
		mustEqual(t, "Unflushed", p, mb.pend)
	case 29: // Disown: another producer call takes the batch over
		before, pend := b.Len(), b.MallocLen()
		b.Disown()
		if b.Len() != before || b.MallocLen() != pend {
			t.Fatalf("Disown changed Len %d -> %d, MallocLen %d -> %d", before, b.Len(), pend, b.MallocLen())
		}
	}
}

// readErr checks the error of a read of n bytes and reports whether the
// read failed (as the model says it must).
func (m *mvModel) readErr(mb *mvBuf, what string, n int, err error) bool {
	m.t.Helper()
	switch {
	case n < 0:
		m.wantErr(what+"(negative)", err, ErrNegativeCount)
	case mb.closed:
		m.wantErr(what+" after Close", err, ErrClosed)
	case n > len(mb.ready):
		m.wantErr(what+" beyond Len", err, ErrNotEnough)
	default:
		m.wantErr(what, err, nil)
		return false
	}
	return true
}

// keepAfter moves the slices a buffer handed out since its last Release
// to the list of those that must stay intact after its Close or Free
// (the lent mark), unless foreign bytes are in them.
func (m *mvModel) keepAfter(mb *mvBuf) {
	for _, h := range mb.held {
		if !h.foreign {
			h.what += " after Close"
			m.after = append(m.after, h)
		}
	}
	mb.held = nil
}

// check runs after every op.
func (m *mvModel) check(op byte) {
	t := m.t
	t.Helper()
	for i, mb := range m.bufs {
		b := mb.b
		if mb.closed {
			if b.Len() != 0 {
				t.Fatalf("op %d: buffer %d: Len %d after Close", op, i, b.Len())
			}
		} else {
			if b.Len() != len(mb.ready) || b.MallocLen() != len(mb.pend) {
				t.Fatalf("op %d: buffer %d: Len %d MallocLen %d, want %d %d", op, i, b.Len(), b.MallocLen(), len(mb.ready), len(mb.pend))
			}
			if b.writing != mb.writing {
				t.Fatalf("op %d: buffer %d: writing %v, model %v", op, i, b.writing, mb.writing)
			}
		}
	}
	if m.ops++; m.ops%64 == 0 {
		m.deep()
	}
}

// deep checks what the consumer and the producer hold: slices handed out
// since the last Release, Malloc slices, the booked bytes, and the slices
// kept past Close. It runs before every call that ends their validity,
// and every 64 ops.
func (m *mvModel) deep() {
	for _, mb := range m.bufs {
		m.heldOK(mb)
		m.batchOK(mb)
	}
	for _, h := range m.after {
		mustEqual(m.t, h.what, h.p, h.want)
	}
}

func (m *mvModel) heldOK(mb *mvBuf) {
	m.t.Helper()
	for _, h := range mb.held {
		mustEqual(m.t, h.what+" held until Release", h.p, h.want)
	}
}

func (m *mvModel) batchOK(mb *mvBuf) {
	t := m.t
	t.Helper()
	for _, a := range mb.mallocs {
		mustEqual(t, "Malloc slice until Flush", a.p, mb.pend[a.off:a.off+len(a.p)])
	}
	m.bookOK(mb)
}

func (m *mvModel) bookOK(mb *mvBuf) {
	t := m.t
	t.Helper()
	if mb.book != nil {
		var got []byte
		for _, v := range mb.book {
			got = append(got, v[:min(len(v), len(mb.bookFill)-len(got))]...)
		}
		mustEqual(t, "booked bytes", got, mb.bookFill)
	}
}

// finish publishes and drains every open buffer, closes all, and checks
// the slices kept past Close and the foreign releases.
func (m *mvModel) finish() {
	t := m.t
	t.Helper()
	m.deep()
	for i, mb := range m.bufs {
		b := mb.b
		if mb.closed {
			if err := b.Flush(); err != ErrClosed {
				t.Fatalf("final Flush of closed buffer %d: %v", i, err)
			}
			if i%2 == 1 {
				b.Free()
			}
			if n := nodeCount(b); n != 0 {
				t.Fatalf("closed buffer %d holds %d nodes", i, n)
			}
			continue
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		mb.flushed()
		mustEqual(t, "final drain", drain(t, b), mb.ready)
		if n := nodeCount(b); n != 0 {
			t.Fatalf("drained buffer %d holds %d nodes", i, n)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Churn the pools: a node given back early would now hold these bytes.
	for range 4 {
		o := New()
		o.WriteBinary(bytes.Repeat([]byte{0xa5}, 3*minNodeSize))
		o.Flush()
		o.Close()
	}
	for _, h := range m.after {
		mustEqual(t, h.what+" (end)", h.p, h.want)
	}
	m.rel.check(t)
}
