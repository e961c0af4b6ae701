package buffer

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzLinkBuffer drives a LinkBuffer with a random sequence of operations
// and checks every byte it returns against a bytes.Buffer model. Each op is
// one byte of the input followed by an argument byte.
func FuzzLinkBuffer(f *testing.F) {
	f.Add([]byte{0, 10, 9, 0, 1, 5, 13, 0})
	f.Add([]byte{2, 200, 9, 0, 3, 255, 4, 10, 13, 0})
	f.Add([]byte{6, 100, 7, 50, 9, 0, 11, 3, 12, 0, 13, 0, 15, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		live := liveNodes.Load()
		m := newModel()
		bigs := 0
		for i := 0; i+1 < len(ops) && i < 2000; i += 2 {
			if tooBig(ops[i+1], &bigs) {
				continue
			}
			m.step(t, ops[i], ops[i+1])
		}
		m.finish(t)
		checkLive(t, live)
	})
}

// model pairs a LinkBuffer with the bytes it must hold.
type model struct {
	b       *LinkBuffer
	pending []byte       // written, not flushed
	ready   bytes.Buffer // flushed, unread
	off     int          // stream offset of the next written byte
	malloc  []byte       // last Malloc, still writable
	slices  []*LinkBuffer
	want    [][]byte // contents of slices
	held    [][]byte // Next/Peek results valid until Release
	heldW   [][]byte
	foreign *scribbler // owner of the WriteForeign bytes
}

func newModel() *model { return &model{b: New(), foreign: newScribbler()} }

// size maps an argument byte to sizes that hit node boundaries often.
// The last few values give the sizes of bigSizes, rarely, so that a run
// stays quick.
func size(a byte) int {
	switch a >> 6 {
	case 0:
		return int(a & 63)
	case 1:
		return minNodeSize - 32 + int(a&63)
	case 2:
		return int(a&63) * 257
	default:
		if i := int(a) - (256 - len(bigSizes)); i >= 0 {
			return bigSizes[i]
		}
		return 2*minNodeSize - 32 + int(a&63)
	}
}

// maxBigOps bounds the ops of one run whose argument is one of bigSizes:
// a run of a thousand megabyte writes would take the fuzzer's memory.
const maxBigOps = 2

// tooBig reports whether an op with argument a is to be skipped: it is
// one of bigSizes, and the run has had maxBigOps of those (counted in
// bigs).
func tooBig(a byte, bigs *int) bool {
	if int(a) < 256-len(bigSizes) {
		return false
	}
	*bigs++
	return *bigs > maxBigOps
}

// bigSizes reach the nodes that the small sizes never take: both sides
// of a larger class's edge, the largest pooled node, and the exact,
// unpooled nodes of a contiguous write above it.
var bigSizes = [...]int{
	64<<10 + 1,
	256<<10 - 1,
	maxNodeSize - 1,
	maxNodeSize,
	maxNodeSize + 1,
}

func (m *model) write(p []byte) {
	m.pending = append(m.pending, p...)
	m.off += len(p)
}

func (m *model) flush() {
	m.ready.Write(m.pending)
	m.pending = m.pending[:0]
	m.malloc = nil
}

func (m *model) step(t *testing.T, op, arg byte) {
	t.Helper()
	b := m.b
	n := size(arg)
	if op >= 240 { // WriteForeign: bytes the buffer must give back, once, when done
		p := pattern(m.off, n)
		if err := b.WriteForeign(p, m.foreign, m.foreign.lend(p)); err != nil {
			t.Fatalf("WriteForeign(%d): %v", n, err)
		}
		m.write(p)
		return
	}
	if op >= 220 { // go on with a Slice of everything readable
		m.adopt(t)
		return
	}
	switch op % 20 {
	case 0: // WriteBinary
		p := pattern(m.off, n)
		if k, err := b.WriteBinary(p); k != n || err != nil {
			t.Fatalf("WriteBinary(%d) = %d, %v", n, k, err)
		}
		m.write(p)
	case 1: // WriteString / WriteByte
		p := pattern(m.off, n)
		if n == 1 {
			if err := b.WriteByte(p[0]); err != nil {
				t.Fatal(err)
			}
		} else if k, err := b.WriteString(string(p)); k != n || err != nil {
			t.Fatalf("WriteString(%d) = %d, %v", n, k, err)
		}
		m.write(p)
	case 2: // Malloc, fill
		p, err := b.Malloc(n)
		if err != nil || len(p) != n {
			t.Fatalf("Malloc(%d) = %d, %v", n, len(p), err)
		}
		fillPattern(p, m.off)
		m.write(p)
		m.malloc = p
	case 3: // MallocAck
		k := int(arg) % (len(m.pending) + 2)
		err := b.MallocAck(k)
		if k > len(m.pending) {
			if !errors.Is(err, ErrNotEnough) {
				t.Fatalf("MallocAck(%d) beyond %d: %v", k, len(m.pending), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("MallocAck(%d): %v", k, err)
		}
		m.off -= len(m.pending) - k
		m.pending = m.pending[:k]
	case 4, 9: // Flush
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		m.flush()
	case 5: // Book, fill k, BookAck
		vecs := b.Book(n, nil)
		total := 0
		for _, v := range vecs {
			total += len(v)
		}
		if total < max(n, 1) {
			t.Fatalf("Book(%d) gave %d bytes", n, total)
		}
		k := min(total, int(arg)*37)
		data := pattern(m.off, k)
		rest := data
		for _, v := range vecs {
			rest = rest[copy(v, rest):]
		}
		if err := b.BookAck(k); err != nil {
			t.Fatalf("BookAck(%d): %v", k, err)
		}
		m.write(data)
		m.flush()
	case 6: // Next
		m.read(t, "Next", n, b.Next, true)
	case 7: // Peek
		m.read(t, "Peek", n, b.Peek, false)
	case 8: // ReadBinary
		m.read(t, "ReadBinary", n, b.ReadBinary, false)
	case 10: // Skip
		err := b.Skip(n)
		if n > m.ready.Len() {
			if err != ErrNotEnough {
				t.Fatalf("Skip(%d) beyond %d: %v", n, m.ready.Len(), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		m.ready.Next(n)
	case 11: // Until
		p, err := b.Until(arg)
		i := bytes.IndexByte(m.ready.Bytes(), arg)
		if i < 0 {
			if err != ErrNotEnough || p != nil {
				t.Fatalf("Until(%d) with no delim: %d, %v", arg, len(p), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want := m.ready.Next(i + 1)
		mustEqual(t, "Until", p, want)
		m.held = append(m.held, p)
		m.heldW = append(m.heldW, bytes.Clone(want))
	case 12: // Release: every held slice must still be intact up to now
		m.checkHeld(t)
		if err := b.Release(); err != nil {
			t.Fatal(err)
		}
		m.held, m.heldW = nil, nil
		if m.ready.Len() == 0 && !b.writing && nodeCount(b) != 0 {
			t.Fatalf("drained buffer holds %d nodes after Release", nodeCount(b))
		}
	case 13: // Slice, kept until later
		s, err := b.Slice(n)
		if n > m.ready.Len() {
			if err != ErrNotEnough {
				t.Fatalf("Slice(%d) beyond %d: %v", n, m.ready.Len(), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		m.slices = append(m.slices, s)
		m.want = append(m.want, bytes.Clone(m.ready.Next(n)))
	case 14: // check and drop the oldest slice
		if len(m.slices) == 0 {
			return
		}
		s, want := m.slices[0], m.want[0]
		m.slices, m.want = m.slices[1:], m.want[1:]
		if s.Len() != len(want) {
			t.Fatalf("slice Len %d, want %d", s.Len(), len(want))
		}
		mustEqual(t, "Slice content", drain(t, s), want)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	case 15: // GetBytes + Skip
		vecs := b.GetBytes(make([][]byte, 0, 1+int(arg)%4))
		var got []byte
		for _, v := range vecs {
			got = append(got, v...)
		}
		want := m.ready.Bytes()[:len(got)]
		mustEqual(t, "GetBytes", got, want)
		if len(got) == 0 && m.ready.Len() > 0 {
			t.Fatal("GetBytes returned nothing with bytes readable")
		}
		k := len(got) / 2
		if err := b.Skip(k); err != nil {
			t.Fatal(err)
		}
		m.ready.Next(k)
	case 16: // Append another buffer's published bytes
		o := New()
		p := pattern(m.off, n)
		o.WriteBinary(p[:n/2])
		o.Flush()
		o.WriteBinary(p[n/2:])
		o.Flush()
		if err := b.Append(o); err != nil {
			t.Fatal(err)
		}
		if o.Len() != 0 || nodeCount(o) != 0 {
			t.Fatalf("Append left %d bytes, %d nodes in source", o.Len(), nodeCount(o))
		}
		o.Close()
		m.write(p)
	case 17: // Read (copies and releases)
		m.checkHeld(t)
		p := make([]byte, n)
		k, err := b.Read(p)
		if m.ready.Len() == 0 && n > 0 {
			if err != io.EOF {
				t.Fatalf("Read on empty: %d, %v", k, err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want := m.ready.Next(min(n, m.ready.Len()))
		mustEqual(t, "Read", p[:k], want)
		m.held, m.heldW = nil, nil
	case 18: // ReadByte / ReadString
		if arg&1 == 0 {
			c, err := b.ReadByte()
			if m.ready.Len() == 0 {
				if err != io.EOF {
					t.Fatalf("ReadByte on empty: %v", err)
				}
				return
			}
			if w, _ := m.ready.ReadByte(); err != nil || c != w {
				t.Fatalf("ReadByte = %d, %v; want %d", c, err, w)
			}
			return
		}
		m.read(t, "ReadString", n, func(n int) ([]byte, error) {
			s, err := b.ReadString(n)
			return []byte(s), err
		}, false)
	case 19: // bad counts never change anything
		before := b.Len()
		if _, err := b.Next(-1 - int(arg)); err != ErrNegativeCount {
			t.Fatalf("Next(negative): %v", err)
		}
		if _, err := b.Peek(before + 1 + int(arg)); err != ErrNotEnough {
			t.Fatalf("Peek beyond Len: %v", err)
		}
		if err := b.MallocAck(-1); err != ErrNegativeCount {
			t.Fatalf("MallocAck(-1): %v", err)
		}
		if b.Len() != before {
			t.Fatalf("bad call changed Len %d -> %d", before, b.Len())
		}
	}
	if b.Len() != m.ready.Len() || b.MallocLen() != len(m.pending) {
		t.Fatalf("op %d: Len %d MallocLen %d, want %d %d", op%20, b.Len(), b.MallocLen(), m.ready.Len(), len(m.pending))
	}
}

// read checks a read method of n bytes against the model.
func (m *model) read(t *testing.T, name string, n int, f func(int) ([]byte, error), hold bool) {
	t.Helper()
	p, err := f(n)
	if n > m.ready.Len() {
		if err != ErrNotEnough || len(p) != 0 {
			t.Fatalf("%s(%d) beyond %d: %d, %v", name, n, m.ready.Len(), len(p), err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s(%d): %v", name, n, err)
	}
	var want []byte
	if name == "Peek" {
		want = m.ready.Bytes()[:n]
		m.held = append(m.held, p)
		m.heldW = append(m.heldW, bytes.Clone(want))
	} else {
		want = m.ready.Next(n)
	}
	mustEqual(t, name, p, want)
	if hold {
		m.held = append(m.held, p)
		m.heldW = append(m.heldW, bytes.Clone(want))
	}
}

// checkHeld verifies that slices returned since the last Release were not
// overwritten by later writes or reads.
func (m *model) checkHeld(t *testing.T) {
	t.Helper()
	for i, p := range m.held {
		mustEqual(t, "slice held until Release", p, m.heldW[i])
	}
}

// adopt flushes, moves every readable byte into a Slice, closes the old
// buffer and carries on with the Slice as the buffer under test: its list
// starts with sealed views (their bytes are another buffer's), which the
// producer then writes after and the consumer releases.
func (m *model) adopt(t *testing.T) {
	t.Helper()
	if err := m.b.Flush(); err != nil {
		t.Fatal(err)
	}
	m.flush()
	s, err := m.b.Slice(m.ready.Len())
	if err != nil {
		t.Fatalf("Slice(%d): %v", m.ready.Len(), err)
	}
	m.checkHeld(t)
	m.held, m.heldW = nil, nil
	if err := m.b.Close(); err != nil {
		t.Fatal(err)
	}
	m.b = s
}

// finish flushes, drains, checks the slices and closes everything.
func (m *model) finish(t *testing.T) {
	t.Helper()
	if err := m.b.Flush(); err != nil {
		t.Fatal(err)
	}
	m.flush()
	m.checkHeld(t)
	mustEqual(t, "final drain", drain(t, m.b), m.ready.Bytes())
	if n := nodeCount(m.b); n != 0 {
		t.Fatalf("drained buffer holds %d nodes", n)
	}
	for i, s := range m.slices {
		mustEqual(t, "slice after parent released", drain(t, s), m.want[i])
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.b.Next(0); err != ErrClosed {
		t.Fatalf("Next after Close: %v", err)
	}
	m.foreign.check(t)
}
