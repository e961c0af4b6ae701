package buffer

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"
)

// Append of a buffer that holds views and foreign nodes, then MallocAck,
// Book spanning nodes, BookAck, Flush, drain, close.
func TestAppendViewsForeign(t *testing.T) {
	live := liveNodes.Load()
	sc := newScribbler()
	src := New()
	src.WriteString("hello-")
	f := []byte("FOREIGN-")
	src.WriteForeign(f, sc, sc.lend(f))
	src.WriteString("tail")
	src.Flush()
	s1, err := src.Slice(10) // views: "hello-FORE"
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := s1.Slice(7) // slice of slice: "hello-F"
	o := New()
	if err := o.Append(s1); err != nil { // "ORE"
		t.Fatal(err)
	}
	o.Flush()
	o.WriteString("+")
	o.Flush()
	b := New()
	b.WriteString("A")
	b.Flush()
	if err := b.Append(o); err != nil { // "ORE+"
		t.Fatal(err)
	}
	if err := b.Append(s2); err != nil { // "hello-F"
		t.Fatal(err)
	}
	if err := b.MallocAck(5); err != nil { // keep "ORE+h"
		t.Fatal(err)
	}
	vecs := b.Book(5000, nil)
	data := []byte("0123456789")
	total := 0
	for _, v := range vecs {
		total += len(v)
	}
	big := bytes.Repeat(data, total/10)
	rest := big
	for _, v := range vecs {
		rest = rest[copy(v, rest):]
	}
	if err := b.BookAck(len(big)); err != nil {
		t.Fatal(err)
	}
	got := drain(t, b)
	want := "AORE+h" + string(big)
	if string(got) != want {
		t.Fatalf("got %q..., want %q...", clip(got), clip([]byte(want)))
	}
	mustEqual(t, "src", drain(t, src), []byte("IGN-tail"))
	for _, x := range []*LinkBuffer{b, o, s1, s2, src} {
		x.Close()
	}
	checkLive(t, live)
	sc.check(t)
}

type shortWriter struct {
	buf  bytes.Buffer
	max  int
	fail int // fail after this many calls
	n    int
}

func (w *shortWriter) Write(p []byte) (int, error) {
	w.n++
	if w.n > w.fail {
		k := min(len(p), 3)
		w.buf.Write(p[:k])
		return k, errors.New("boom")
	}
	k := min(len(p), w.max)
	w.buf.Write(p[:k])
	return k, nil
}

func TestWriteToShort(t *testing.T) {
	live := liveNodes.Load()
	want := pattern(0, 10000)
	b := chain(t, want[:3000], want[3000:3001], want[3001:9000], want[9000:])
	var got []byte
	for b.Len() > 0 {
		w := &shortWriter{max: 700, fail: 2}
		n, err := b.WriteTo(w)
		if err == nil && b.Len() > 0 {
			t.Fatalf("nil error with %d left", b.Len())
		}
		if int(n) != w.buf.Len() {
			t.Fatalf("n %d, wrote %d", n, w.buf.Len())
		}
		got = append(got, w.buf.Bytes()...)
	}
	mustEqual(t, "WriteTo", got, want)
	b.Close()
	checkLive(t, live)
}

type chunkReader struct {
	data  []byte
	chunk int
	err   error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	k := min(len(p), r.chunk, len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	if len(r.data) == 0 && r.err == nil {
		return k, io.EOF
	}
	return k, nil
}

func TestReadFromShort(t *testing.T) {
	live := liveNodes.Load()
	want := pattern(0, 20000)
	b := New()
	b.WriteString("x")
	n, err := b.ReadFrom(&chunkReader{data: want[:7000], chunk: 333, err: errors.New("e")})
	if n != 7000 || err == nil {
		t.Fatal(n, err)
	}
	m, _ := b.Malloc(10)
	copy(m, "MMMMMMMMMM")
	b.MallocAck(4)
	n, err = b.ReadFrom(&chunkReader{data: want[7000:], chunk: 4095})
	if n != 13000 || err != nil {
		t.Fatal(n, err)
	}
	got := drain(t, b)
	exp := append(append(append([]byte("x"), want[:7000]...), "MMMM"...), want[7000:]...)
	mustEqual(t, "ReadFrom", got, exp)
	b.Close()
	checkLive(t, live)
}

// Close during an open batch (with published unread bytes, views, foreign
// nodes and an outstanding Book), then Flush, then Free.
func TestCloseMidBatch(t *testing.T) {
	for variant := 0; variant < 6; variant++ {
		live := liveNodes.Load()
		sc := newScribbler()
		b := New()
		b.WriteString("abc")
		b.Flush()
		o := New()
		o.WriteString("view")
		o.Flush()
		s, _ := o.Slice(4)
		switch variant % 3 {
		case 0:
			b.WriteString("def")
		case 1:
			b.Append(s)
		case 2:
			f := []byte("foreign")
			b.WriteForeign(f, sc, sc.lend(f))
			b.Book(9000, nil)
		}
		b.Next(1)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		b.WriteString("more")
		if variant >= 3 {
			b.Free()
		} else if err := b.Flush(); err != ErrClosed {
			t.Fatalf("Flush after Close: %v", err)
		}
		b.Free()
		b.Free()
		s.Close()
		o.Close()
		checkLive(t, live)
		sc.check(t)
	}
}

// Book after MallocAck that leaves an earlier node short.
func TestBookAfterMallocAck(t *testing.T) {
	live := liveNodes.Load()
	b := New()
	p, _ := b.Malloc(4096)
	fillPattern(p, 0)
	q, _ := b.Malloc(100)
	fillPattern(q, 4096)
	b.MallocAck(50)
	vecs := b.Book(10000, nil)
	want := pattern(0, 50)
	add := pattern(50, 9000)
	rest := add
	for _, v := range vecs {
		rest = rest[copy(v, rest):]
	}
	if err := b.BookAck(9000); err != nil {
		t.Fatal(err)
	}
	want = append(want, add...)
	mustEqual(t, "book", drain(t, b), want)
	if nodeCount(b) != 0 {
		t.Fatalf("%d nodes", nodeCount(b))
	}
	b.Close()
	checkLive(t, live)
}

// A producer mixing WriteForeign, Append of buffers holding views,
// MallocAck, Book/BookAck and Flush against a consumer using Next, Slice,
// GetBytes/Skip, WriteTo and Release; then, in a second round, a Close
// mid-stream followed by the producer's ErrClosed and Free.
func TestConcurrentMixedOps(t *testing.T) {
	for round := 0; round < 2; round++ {
		live := liveNodes.Load()
		sc := newScribbler()
		b := New()
		const total = 1 << 20
		done := make(chan int, 1)
		// Each side spins while the other has not caught up (yielding,
		// both may share one core); neither spins past the deadline.
		deadline := time.Now().Add(30 * time.Second)
		go func() {
			off := 0
			i := 0
			defer func() { done <- off }()
			for off < total {
				i++
				n := min(1+(i*7919)%6000, total-off)
				var err error
				switch i % 5 {
				case 0:
					f := pattern(off, n)
					err = b.WriteForeign(f, sc, sc.lend(f))
				case 1:
					o := New()
					o.WriteBinary(pattern(off, n))
					o.Flush()
					s, _ := o.Slice(n)
					o.Close()
					err = b.Append(s)
					s.Close()
				case 2:
					var p []byte
					p, err = b.Malloc(n + 50)
					if err == nil {
						fillPattern(p, off)
						err = b.MallocAck(b.MallocLen() - 50)
					}
				case 3:
					vecs := b.Book(n, nil)
					data := pattern(off, n)
					rest := data
					for _, v := range vecs {
						rest = rest[copy(v, rest):]
					}
					if len(vecs) == 0 {
						err = ErrClosed
					} else {
						err = b.BookAck(n)
					}
				case 4:
					_, err = b.WriteBinary(pattern(off, n))
				}
				if err != nil {
					return
				}
				off += n
				if i%3 == 0 {
					if err := b.Flush(); err != nil {
						return
					}
				}
				for b.Len() > 256<<10 && !b.isClosed() && time.Now().Before(deadline) {
					runtime.Gosched()
				}
			}
			b.Flush()
		}()
		got := 0
		var slices []*LinkBuffer
		var sliceOff []int
		var w bytes.Buffer
		j := 0
		for got < total {
			n := b.Len()
			if n == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("round %d: no input for the consumer at %d of %d bytes by the deadline", round, got, total)
				}
				runtime.Gosched()
				continue
			}
			if round == 1 && got > total/2 {
				b.Close()
				break
			}
			j++
			switch j % 5 {
			case 4:
				c := New()
				c.WriteString("<")
				if err := c.Append(b); err != nil {
					t.Fatal(err)
				}
				c.Flush()
				p := drain(t, c)
				n = len(p) - 1
				mustEqual(t, "Append", p[1:], pattern(got, n))
				c.Close()
			case 0:
				p, _ := b.Next(n)
				mustEqual(t, "Next", p, pattern(got, n))
			case 1:
				s, _ := b.Slice(n)
				slices = append(slices, s)
				sliceOff = append(sliceOff, got)
			case 2:
				vecs := b.GetBytes(make([][]byte, 0, 4))
				k := 0
				for _, v := range vecs {
					mustEqual(t, "GetBytes", v, pattern(got+k, len(v)))
					k += len(v)
				}
				n = k
				b.Skip(k)
			case 3:
				w.Reset()
				m, _ := b.WriteTo(&w)
				n = int(m)
				mustEqual(t, "WriteTo", w.Bytes(), pattern(got, n))
			}
			got += n
			b.Release()
		}
		<-done
		for i, s := range slices {
			n := s.Len()
			mustEqual(t, "slice", drain(t, s), pattern(sliceOff[i], n))
			s.Close()
		}
		b.Close()
		b.Free()
		checkLive(t, live)
		sc.check(t)
	}
}

// A random single-goroutine model with the ops the fuzz model lacks:
// Append of a buffer holding views, foreign nodes and its own open batch,
// Slice of a Slice, WriteTo and ReadFrom with short counts, Write, and a
// final Close mid-batch then Flush then Free.
func TestRandomModelMoreOps(t *testing.T) {
	for seed := uint64(1); seed <= 3000; seed++ {
		r := seed*0x9E3779B97F4A7C15 | 1
		rnd := func(n int) int {
			r ^= r << 13
			r ^= r >> 7
			r ^= r << 17
			return int(r % uint64(n))
		}
		live := liveNodes.Load()
		sc := newScribbler()
		b := New()
		var ready, pend []byte
		type held struct {
			s    *LinkBuffer
			want []byte
		}
		var slices []held
		off := 0
		next := func(n int) []byte { p := pattern(off, n); off += n; return p }
		sizes := []int{1, 7, 100, 4000, 4096, 5000, 9000}
		for step := 0; step < 60; step++ {
			n := sizes[rnd(len(sizes))]
			switch rnd(14) {
			case 0:
				p := next(n)
				b.WriteBinary(p)
				pend = append(pend, p...)
			case 1:
				p := next(n)
				b.WriteForeign(p, sc, sc.lend(p))
				pend = append(pend, p...)
			case 2: // Append of a buffer holding views, foreign and an open batch
				o := New()
				p := next(n)
				o.WriteString("junk")
				o.Flush()
				o.Next(4)
				f := append([]byte{}, p[:n/2]...)
				o.WriteForeign(f, sc, sc.lend(f))
				o.Flush()
				q := New()
				q.WriteBinary(p[n/2:])
				q.Flush()
				qs, _ := q.Slice(q.Len())
				o.Append(qs)
				o.Flush()
				o.WriteString("unflushed")
				if err := b.Append(o); err != nil {
					t.Fatal(err)
				}
				pend = append(pend, p...)
				o.Flush()
				if got := drain(t, o); string(got) != "unflushed" {
					t.Fatalf("seed %d: o left %q", seed, got)
				}
				o.Close()
				q.Close()
				qs.Close()
			case 3:
				if len(pend) > 0 {
					k := rnd(len(pend) + 1)
					b.MallocAck(k)
					pend = pend[:k]
				}
			case 4:
				vecs := b.Book(n, nil)
				tot := 0
				for _, v := range vecs {
					tot += len(v)
				}
				k := rnd(tot + 1)
				p := next(k)
				rest := p
				for _, v := range vecs {
					rest = rest[copy(v, rest):]
				}
				if err := b.BookAck(k); err != nil {
					t.Fatal(err)
				}
				ready = append(append(ready, pend...), p...)
				pend = nil
			case 5, 6:
				b.Flush()
				ready = append(ready, pend...)
				pend = nil
			case 7:
				k := min(n, len(ready))
				p, err := b.Next(k)
				if err != nil {
					t.Fatal(err)
				}
				mustEqual(t, "Next", p, ready[:k])
				ready = ready[k:]
			case 8:
				k := rnd(len(ready) + 1)
				s, _ := b.Slice(k)
				want := ready[:k]
				ready = ready[k:]
				if k > 1 && rnd(2) == 0 {
					j := rnd(k)
					s.Next(j % 3)
					s2, _ := s.Slice(k - j%3 - 1)
					slices = append(slices, held{s2, want[j%3 : k-1]})
					want = want[k-1:]
				}
				slices = append(slices, held{s, want})
			case 9:
				w := &shortWriter{max: 1 + rnd(6000), fail: rnd(4)}
				m, _ := b.WriteTo(w)
				mustEqual(t, "WriteTo", w.buf.Bytes(), ready[:m])
				ready = ready[m:]
			case 10:
				p := next(n)
				var e error
				if rnd(2) == 0 {
					e = errors.New("x")
				}
				m, _ := b.ReadFrom(&chunkReader{data: p, chunk: 1 + rnd(5000), err: e})
				if int(m) != len(p) {
					t.Fatal(m)
				}
				ready = append(append(ready, pend...), p...)
				pend = nil
			case 11:
				b.Release()
			case 12:
				vecs := b.GetBytes(make([][]byte, 0, 1+rnd(3)))
				k := 0
				for _, v := range vecs {
					mustEqual(t, "GetBytes", v, ready[k:k+len(v)])
					k += len(v)
				}
				b.Skip(k)
				ready = ready[k:]
			case 13:
				p := next(n)
				b.Write(p)
				ready = append(append(ready, pend...), p...)
				pend = nil
			}
			if b.Len() != len(ready) || b.MallocLen() != len(pend) {
				t.Fatalf("seed %d step %d: Len %d/%d MallocLen %d/%d", seed, step, b.Len(), len(ready), b.MallocLen(), len(pend))
			}
		}
		for _, h := range slices {
			mustEqual(t, "slice", drain(t, h.s), h.want)
		}
		switch seed % 3 {
		case 0:
			b.Flush()
			ready = append(ready, pend...)
			mustEqual(t, "final", drain(t, b), ready)
			if nodeCount(b) != 0 {
				t.Fatalf("seed %d: drained buffer holds %d nodes", seed, nodeCount(b))
			}
			b.Close()
		case 1:
			b.Close()
			b.Flush()
			b.Free()
		case 2:
			b.Close()
			b.Free()
		}
		for _, h := range slices {
			h.s.Close()
		}
		checkLive(t, live)
		sc.check(t)
		if t.Failed() {
			t.Fatalf("seed %d", seed)
		}
	}
}
