package buffer

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// TestRandomProducerConsumer runs one producer goroutine and one consumer
// goroutine on one buffer, each doing random calls of its side for a
// bounded time: the producer every kind of write (Malloc and MallocAck,
// Book and BookAck, WriteForeign, Append, ReadFrom, Write, Flush, Len),
// the consumer every kind of read (Next, Peek, Until, Skip, ReadByte,
// ReadBinary, Read, WriteTo, GetBytes, Slice, Release, Len). The stream is
// the pattern, so every byte read is checked where it stands; slices held
// since the last Release are checked before each Release. Half the rounds
// end with a Close by the consumer while the producer is still writing:
// slices the consumer held then must keep their bytes (the lent mark).
// Every foreign write is released once; LiveNodes comes back. Run it
// under -race.
func TestRandomProducerConsumer(t *testing.T) {
	d := 3 * time.Second
	if testing.Short() {
		d = time.Second
	}
	live := liveNodes.Load()
	rel := newScribbler()
	end := time.Now().Add(d)
	for round := 0; time.Now().Before(end); round++ {
		randomRound(t, uint64(round), rel, round%2 == 1)
	}
	rel.check(t)
	checkLive(t, live)
}

func randomRound(t *testing.T, seed uint64, rel *scribbler, closeEarly bool) {
	b := New()
	stop := make(chan struct{})
	var published atomic.Int64 // bytes the producer published, for the consumer's end
	done := make(chan error, 1)
	var foreign [][2]int // stream ranges written by WriteForeign
	go func() { done <- randomProduce(b, seed, rel, stop, &published, &foreign) }()

	rnd := rand.New(rand.NewPCG(seed, 2))
	off := 0
	type hold struct {
		p   []byte
		off int
	}
	var held []hold
	checkHeld := func(what string) {
		t.Helper()
		for _, h := range held {
			if !bytes.Equal(h.p, pattern(h.off, len(h.p))) {
				checkStream(t, what, h.p, h.off)
			}
		}
	}
	var slices []*LinkBuffer
	var sliceOff []int
	vbuf := make([][]byte, 4)
	steps := 200 + rnd.IntN(400)
	for step := 0; step < steps; step++ {
		avail := b.Len()
		if avail == 0 {
			time.Sleep(time.Microsecond * time.Duration(rnd.IntN(20)))
			if rnd.IntN(4) > 0 {
				continue
			}
		}
		n := 0
		if avail > 0 {
			n = 1 + rnd.IntN(avail)
			if rnd.IntN(3) == 0 {
				n = 1 + rnd.IntN(min(avail, 64))
			}
		}
		switch rnd.IntN(13) {
		case 0:
			p, err := b.Next(n)
			if err != nil {
				t.Fatalf("Next(%d) of %d: %v", n, avail, err)
			}
			checkStream(t, "Next", p, off)
			held = append(held, hold{p, off})
			off += n
		case 1:
			p, err := b.Peek(n)
			if err != nil {
				t.Fatalf("Peek(%d): %v", n, err)
			}
			checkStream(t, "Peek", p, off)
			held = append(held, hold{p, off})
		case 2:
			delim := pattern(off+rnd.IntN(avail+1), 1)[0]
			p, err := b.Until(delim)
			if err == ErrNotEnough {
				break
			}
			if err != nil {
				t.Fatalf("Until: %v", err)
			}
			checkStream(t, "Until", p, off)
			if bytes.IndexByte(p, delim) != len(p)-1 {
				t.Fatalf("Until(%#x) = %d bytes, delim at %d", delim, len(p), bytes.IndexByte(p, delim))
			}
			held = append(held, hold{p, off})
			off += len(p)
		case 3:
			if err := b.Skip(n); err != nil {
				t.Fatalf("Skip: %v", err)
			}
			off += n
		case 4:
			c, err := b.ReadByte()
			if err == io.EOF && avail == 0 {
				break
			}
			if err != nil {
				t.Fatalf("ReadByte: %v", err)
			}
			checkStream(t, "ReadByte", []byte{c}, off)
			off++
		case 5:
			p, err := b.ReadBinary(n)
			if err != nil {
				t.Fatalf("ReadBinary: %v", err)
			}
			checkStream(t, "ReadBinary", p, off)
			off += n
		case 6:
			checkHeld("held before Read")
			p := make([]byte, n+rnd.IntN(8))
			k, err := b.Read(p)
			if err != nil && !(avail == 0 && k == 0) {
				t.Fatalf("Read: %d, %v", k, err)
			}
			checkStream(t, "Read", p[:k], off)
			off += k
			if err == nil && len(p) > 0 {
				held = nil
			}
		case 7:
			checkHeld("held before WriteTo")
			w := &budgetWriter{budget: n, mode: 1}
			k, err := b.WriteTo(w)
			if err != nil && err != errFuzz {
				t.Fatalf("WriteTo: %v", err)
			}
			checkStream(t, "WriteTo", w.got, off)
			off += int(k)
			held = nil
		case 8:
			vecs := b.GetBytes(vbuf[: 0 : 1+rnd.IntN(4)])
			k := 0
			for _, v := range vecs {
				checkStream(t, "GetBytes", v, off+k)
				held = append(held, hold{v, off + k})
				k += len(v)
			}
			if k > 0 {
				k = rnd.IntN(k + 1)
			}
			if err := b.Skip(k); err != nil {
				t.Fatal(err)
			}
			off += k
		case 9:
			s, err := b.Slice(n)
			if err != nil {
				t.Fatalf("Slice: %v", err)
			}
			slices = append(slices, s)
			sliceOff = append(sliceOff, off)
			off += n
		case 10, 11:
			checkHeld("held until Release")
			if err := b.Release(); err != nil {
				t.Fatal(err)
			}
			held = nil
		case 12:
			if len(slices) > 0 {
				s := slices[0]
				checkStream(t, "Slice", drain(t, s), sliceOff[0])
				s.Close()
				slices, sliceOff = slices[1:], sliceOff[1:]
			}
		}
	}
	checkHeld("held at the end")
	if closeEarly {
		// The owner closes while the producer may be in a batch; what the
		// consumer holds must keep its bytes.
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		close(stop)
		if err := <-done; err != nil && err != ErrClosed {
			t.Fatalf("producer after Close: %v", err)
		}
		b.Flush() // the producer's batch, if it left one open
		o := New()
		o.WriteBinary(bytes.Repeat([]byte{0x5a}, 3*minNodeSize))
		o.Flush()
		// Foreign bytes went back to their owner, who scribbled on them.
		keep := held[:0]
		for _, h := range held {
			mine := true
			for _, f := range foreign {
				if h.off < f[1] && f[0] < h.off+len(h.p) {
					mine = false
				}
			}
			if mine {
				keep = append(keep, h)
			}
		}
		held = keep
		checkHeld("held across Close")
		o.Close()
	} else {
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("producer: %v", err)
		}
		all := int(published.Load())
		if off+b.Len() != all {
			t.Fatalf("read %d + readable %d != published %d", off, b.Len(), all)
		}
		checkStream(t, "rest", drain(t, b), off)
		if n := nodeCount(b); n != 0 {
			t.Fatalf("drained buffer holds %d nodes", n)
		}
		b.Close()
	}
	for i, s := range slices {
		checkStream(t, "Slice after its parent", drain(t, s), sliceOff[i])
		s.Close()
	}
}

// randomProduce writes the pattern stream into b with random producer
// calls until stop is closed or b is closed under it, and counts what it
// published.
func randomProduce(b *LinkBuffer, seed uint64, rel *scribbler, stop <-chan struct{}, published *atomic.Int64, foreign *[][2]int) error {
	rnd := rand.New(rand.NewPCG(seed, 1))
	off := 0 // next stream offset to write
	vecs := make([][]byte, 0, 4)
	flush := func(err error) error {
		if err == nil {
			published.Store(int64(off))
		}
		return err
	}
	for {
		select {
		case <-stop:
			return flush(b.Flush())
		default:
		}
		if b.Len() > 128<<10 {
			time.Sleep(20 * time.Microsecond)
			continue
		}
		n := rnd.IntN(3 * minNodeSize)
		if rnd.IntN(2) == 0 {
			n = rnd.IntN(100)
		}
		var err error
		switch rnd.IntN(11) {
		case 0:
			_, err = b.WriteBinary(pattern(off, n))
			off += n
		case 1:
			_, err = b.WriteString(string(pattern(off, n)))
			off += n
		case 2:
			err = b.WriteByte(pattern(off, 1)[0])
			off++
		case 3: // Malloc, fill part, give back the rest
			var p []byte
			if p, err = b.Malloc(n); err != nil {
				break
			}
			k := rnd.IntN(n + 1)
			fillPattern(p[:k], off)
			err = b.MallocAck(b.MallocLen() - (n - k))
			off += k
		case 4: // Book, fill part, BookAck
			vecs = b.Book(n, vecs)
			if len(vecs) == 0 {
				return ErrClosed
			}
			total := 0
			for _, v := range vecs {
				total += len(v)
			}
			k := rnd.IntN(total + 1)
			p := pattern(off, k)
			for _, v := range vecs {
				p = p[copy(v, p):]
			}
			err = b.BookAck(k)
			off += k
			if err = flush(err); err != nil {
				return err
			}
		case 5:
			if n == 0 {
				n = 1
			}
			p := pattern(off, n)
			err = b.WriteForeign(p, rel, rel.lend(p))
			*foreign = append(*foreign, [2]int{off, off + n})
			off += n
		case 6: // Append a private buffer of two nodes
			o := New()
			o.Write(pattern(off, n/2))
			o.WriteBinary(pattern(off+n/2, n-n/2))
			o.Flush()
			err = b.Append(o)
			off += n
			o.Close()
		case 7:
			r := &fuzzReader{data: pattern(off, n), chunk: 1 + rnd.IntN(5000)}
			_, err = b.ReadFrom(r)
			off += n
			err = flush(err)
		case 8:
			_, err = b.Write(pattern(off, n))
			off += n
			err = flush(err)
		case 9, 10:
			err = flush(b.Flush())
		}
		if err != nil {
			return err
		}
	}
}
