package buffer

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"unsafe"
)

// layouts are buffers whose node boundaries are known: views of the given
// parts (boundaries exactly between parts) and pooled nodes filled by plain
// writes (a boundary at minNodeSize).
var layouts = []struct {
	name   string
	parts  []int // sizes; nil = one plain write of total
	plain  int
	bounds []int // offsets of node boundaries to probe
}{
	{name: "empty"},
	{name: "one-byte", parts: []int{1}},
	{name: "one-node", parts: []int{100}, bounds: []int{50}},
	{name: "two-views", parts: []int{7, 9}, bounds: []int{7}},
	{name: "three-views", parts: []int{1, 1, 30}, bounds: []int{1, 2}},
	{name: "node-size-plus", plain: minNodeSize + 100, bounds: []int{minNodeSize}},
	{name: "exact-node", plain: minNodeSize, bounds: []int{minNodeSize}},
}

func buildLayout(t *testing.T, parts []int, plain int) (*LinkBuffer, []byte) {
	t.Helper()
	if plain > 0 {
		want := pattern(0, plain)
		b := New()
		if _, err := b.Write(want); err != nil {
			t.Fatal(err)
		}
		return b, want
	}
	var ps [][]byte
	var want []byte
	for _, n := range parts {
		p := pattern(len(want), n)
		ps = append(ps, p)
		want = append(want, p...)
	}
	return chain(t, ps...), want
}

// counts returns the n to probe for a layout: 0, 1, each boundary -1/0/+1,
// Len and Len+1, plus a negative one.
func counts(total int, bounds []int) []int {
	ns := []int{-1, 0, 1, total - 1, total, total + 1}
	for _, x := range bounds {
		ns = append(ns, x-1, x, x+1)
	}
	return ns
}

// readOps are the consuming reads, each returning what it consumed.
var readOps = []struct {
	name    string
	consume bool
	f       func(b *LinkBuffer, n int) ([]byte, error)
}{
	{"Next", true, (*LinkBuffer).Next},
	{"Peek", false, (*LinkBuffer).Peek},
	{"ReadBinary", true, (*LinkBuffer).ReadBinary},
	{"ReadString", true, func(b *LinkBuffer, n int) ([]byte, error) {
		s, err := b.ReadString(n)
		if err != nil {
			return nil, err
		}
		return []byte(s), nil
	}},
	{"Skip", true, func(b *LinkBuffer, n int) ([]byte, error) {
		before := b.Len()
		if err := b.Skip(n); err != nil {
			return nil, err
		}
		if b.Len() != before-n {
			return nil, errors.New("Skip did not advance")
		}
		return nil, nil
	}},
	{"Slice", true, func(b *LinkBuffer, n int) ([]byte, error) {
		s, err := b.Slice(n)
		if err != nil {
			return nil, err
		}
		// The slice must outlive the parent's Release.
		if err := b.Release(); err != nil {
			return nil, err
		}
		p, err := s.ReadBinary(s.Len())
		if err == nil {
			err = s.Close()
		}
		return p, err
	}},
}

func TestReadTable(t *testing.T) {
	for _, l := range layouts {
		total := l.plain
		for _, n := range l.parts {
			total += n
		}
		for _, op := range readOps {
			for _, n := range counts(total, l.bounds) {
				t.Run(l.name+"/"+op.name, func(t *testing.T) {
					live := liveNodes.Load()
					b, want := buildLayout(t, l.parts, l.plain)
					got, err := op.f(b, n)
					switch {
					case n < 0:
						if err != ErrNegativeCount {
							t.Fatalf("%s(%d): err %v, want ErrNegativeCount", op.name, n, err)
						}
					case n > total:
						if err != ErrNotEnough {
							t.Fatalf("%s(%d) of %d: err %v, want ErrNotEnough", op.name, n, total, err)
						}
					default:
						if err != nil {
							t.Fatalf("%s(%d): %v", op.name, n, err)
						}
						if op.name != "Skip" {
							mustEqual(t, op.name, got, want[:n])
						}
						if op.consume {
							want = want[n:]
						}
					}
					if b.Len() != len(want) {
						t.Fatalf("after %s(%d): Len %d, want %d", op.name, n, b.Len(), len(want))
					}
					mustEqual(t, "rest", drain(t, b), want)
					if err := b.Close(); err != nil {
						t.Fatal(err)
					}
					checkLive(t, live)
				})
			}
		}
	}
}

func TestNextZeroCopy(t *testing.T) {
	b := New()
	b.WriteString("hello world")
	b.Flush()
	p, _ := b.Peek(5)
	q, _ := b.Next(5)
	if &p[0] != &q[0] {
		t.Fatal("Peek and Next of the same bytes in one node returned different memory")
	}
	if &q[0] != &b.head.buf[0] {
		t.Fatal("Next within one node copied")
	}
	if cap(q) != 5 {
		t.Fatalf("cap(Next(5)) = %d: appending to it would overwrite unread bytes", cap(q))
	}
	b.Release()
	b.Close()
}

func TestUntil(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []string
		delim byte
		want  string // "" = ErrNotEnough
	}{
		{"first-byte", []string{"\nabc"}, '\n', "\n"},
		{"last-byte", []string{"abc\n"}, '\n', "abc\n"},
		{"across", []string{"ab", "c\nd"}, '\n', "abc\n"},
		{"at-boundary", []string{"abc\n", "d"}, '\n', "abc\n"},
		{"after-boundary", []string{"abc", "\nd"}, '\n', "abc\n"},
		{"absent", []string{"abc", "def"}, '\n', ""},
		{"empty", nil, '\n', ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps [][]byte
			all := ""
			for _, p := range tc.parts {
				ps = append(ps, []byte(p))
				all += p
			}
			b := chain(t, ps...)
			got, err := b.Until(tc.delim)
			if tc.want == "" {
				if err != ErrNotEnough || b.Len() != len(all) {
					t.Fatalf("Until: %q, %v, Len %d; want ErrNotEnough, nothing consumed", got, err, b.Len())
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("Until = %q, %v; want %q", got, err, tc.want)
			}
			mustEqual(t, "rest", drain(t, b), []byte(all[len(tc.want):]))
		})
	}
}

func TestReadByteAndRead(t *testing.T) {
	b := chain(t, []byte("a"), []byte("bc"))
	for _, want := range []byte("abc") {
		c, err := b.ReadByte()
		if err != nil || c != want {
			t.Fatalf("ReadByte = %q, %v; want %q", c, err, want)
		}
	}
	if _, err := b.ReadByte(); err != io.EOF {
		t.Fatalf("ReadByte on empty: %v, want io.EOF", err)
	}
	if n, err := b.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("Read on empty: %d, %v", n, err)
	}
	if n, err := b.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil): %d, %v", n, err)
	}
	want := pattern(0, 3*minNodeSize+5)
	b.Write(want)
	got, err := io.ReadAll(io.LimitReader(b, int64(len(want))))
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "ReadAll", got, want)
	if nodeCount(b) != 0 {
		t.Fatal("Read did not release drained nodes")
	}
}

func TestWriteTo(t *testing.T) {
	want := pattern(0, 2*minNodeSize+77)
	b := New()
	b.Write(want[:10])
	b.Write(want[10:])
	var out bytes.Buffer
	n, err := b.WriteTo(&out)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("WriteTo = %d, %v", n, err)
	}
	mustEqual(t, "WriteTo", out.Bytes(), want)
	if b.Len() != 0 || nodeCount(b) != 0 {
		t.Fatalf("after WriteTo: Len %d, %d nodes", b.Len(), nodeCount(b))
	}

	// A failing writer: what it took is consumed, the rest stays.
	b.Write(want)
	fw := &failWriter{limit: 100}
	n, err = b.WriteTo(fw)
	if n != 100 || err == nil || b.Len() != len(want)-100 {
		t.Fatalf("WriteTo to failing writer: %d, %v, Len %d", n, err, b.Len())
	}
	mustEqual(t, "rest", drain(t, b), want[100:])
}

type failWriter struct{ limit int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errors.New("disk full")
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestGetBytes(t *testing.T) {
	b := chain(t, []byte("ab"), []byte("cde"), []byte("f"))
	if v := b.GetBytes(nil); len(v) != 0 {
		t.Fatalf("GetBytes(nil) = %q", v)
	}
	for limit, want := range []string{"", "ab", "abcde", "abcdef", "abcdef"} {
		v := b.GetBytes(make([][]byte, 0, limit))
		if got := string(bytes.Join(v, nil)); got != want || len(v) > limit {
			t.Fatalf("GetBytes(cap %d) = %q, want %q", limit, got, want)
		}
	}
	b.Skip(3)
	v := b.GetBytes(make([][]byte, 5, 8)) // existing elements are dropped
	if got := string(bytes.Join(v, []byte("|"))); got != "de|f" {
		t.Fatalf("GetBytes after Skip = %q", got)
	}
	if b.Len() != 3 {
		t.Fatal("GetBytes consumed bytes")
	}
}

// TestReadString checks that ReadString returns a string of its own:
// not a view of the buffer's memory, which is reused once the nodes go
// back to the pool. Both layouts are tried: the bytes in one node (where
// a view would cost nothing, and is therefore the tempting bug) and
// spread over two.
func TestReadString(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    func() *LinkBuffer
	}{
		{"one node", func() *LinkBuffer { return chain(t, []byte("hello world")) }},
		{"two nodes", func() *LinkBuffer { return chain(t, []byte("hel"), []byte("lo world")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b()
			p, err := b.Peek(b.Len())
			if err != nil {
				t.Fatal(err)
			}
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(p))) // the first node's bytes
			s, err := b.ReadString(5)
			if s != "hello" || err != nil {
				t.Fatalf("ReadString = %q, %v", s, err)
			}
			if at := uintptr(unsafe.Pointer(unsafe.StringData(s))); at >= lo && at < lo+uintptr(len(p)) {
				t.Fatalf("ReadString's string lies in the buffer's node (at offset %d)", at-lo)
			}
			if rest, err := b.ReadString(b.Len()); rest != " world" || err != nil {
				t.Fatalf("the rest = %q, %v; ReadString did not consume what it returned", rest, err)
			}
			if _, err := b.ReadString(1); !errors.Is(err, ErrNotEnough) {
				t.Fatalf("ReadString past the end: %v, want ErrNotEnough", err)
			}
			b.Release()
			b.Close()
			// Reuse the pooled nodes: a view would now read other bytes.
			for range 8 {
				o := New()
				o.WriteString(strings.Repeat("X", 64))
				o.Flush()
				o.Close()
			}
			if s != "hello" {
				t.Fatalf("string changed to %q after its buffer was closed", s)
			}
		})
	}
}
