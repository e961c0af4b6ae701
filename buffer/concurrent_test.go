package buffer

import (
	"bytes"
	"testing"
	"time"
)

// TestProducerConsumer runs a real producer (the poller's role: Book and
// BookAck, plus Malloc and writes) and a real consumer (the handler's role:
// Next, Peek, Until, Slice, GetBytes, Release) on one buffer at the same
// time, and checks every byte of the stream. Run it under -race.
func TestProducerConsumer(t *testing.T) {
	total := 8 << 20
	if testing.Short() {
		total = 1 << 20
	}
	live := liveNodes.Load()
	b := New()
	ready := make(chan struct{}, 1)
	deadline := time.Now().Add(60 * time.Second)
	prodErr := make(chan error, 1)

	go func() {
		prodErr <- produce(b, total, ready, deadline)
	}()

	off, step := 0, 0
	var vecs [][]byte = make([][]byte, 0, 4)
	for off < total {
		if time.Now().After(deadline) {
			t.Fatalf("consumer timed out at %d of %d bytes", off, total)
		}
		if b.Len() == 0 {
			select {
			case <-ready:
			case <-time.After(time.Second):
			}
			continue
		}
		step++
		n := min(b.Len(), 1+(step*7919)%(3*minNodeSize))
		switch step % 6 {
		case 0:
			p, err := b.Next(n)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, "Next", p, off)
		case 1:
			p, err := b.Peek(n)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, "Peek", p, off)
			if err := b.Skip(n); err != nil {
				t.Fatal(err)
			}
		case 2:
			s, err := b.Slice(n)
			if err != nil {
				t.Fatal(err)
			}
			b.Release() // the slice must survive
			checkStream(t, "Slice", drain(t, s), off)
			s.Close()
		case 3:
			vecs = b.GetBytes(vecs)
			p := bytes.Join(vecs, nil)
			checkStream(t, "GetBytes", p, off)
			n = len(p)
			if err := b.Skip(n); err != nil {
				t.Fatal(err)
			}
		case 4:
			p, err := b.ReadBinary(n)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, "ReadBinary", p, off)
		case 5:
			c, err := b.ReadByte()
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, "ReadByte", []byte{c}, off)
			n = 1
		}
		off += n
		if step%3 == 0 {
			if err := b.Release(); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case err := <-prodErr:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Until(deadline)):
		t.Fatal("producer did not finish")
	}
	if b.Len() != 0 {
		t.Fatalf("%d bytes beyond the stream", b.Len())
	}
	b.Release()
	if n := nodeCount(b); n != 0 {
		t.Fatalf("drained buffer holds %d nodes", n)
	}
	b.Close()
	checkLive(t, live)
}

// produce writes the pattern stream [0, total) into b with a mix of the
// producer calls, publishing often, and signals ready after each publish.
func produce(b *LinkBuffer, total int, ready chan<- struct{}, deadline time.Time) error {
	vecs := make([][]byte, 0, 4)
	for off, step := 0, 0; off < total; step++ {
		if time.Now().After(deadline) {
			return nil
		}
		// Backpressure, as the poller applies it: stay under 256 KiB queued.
		if b.Len() > 256<<10 {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		n := min(total-off, 1+(step*104729)%(2*minNodeSize))
		switch step % 4 {
		case 0:
			vecs = b.Book(n, vecs)
			p := pattern(off, n)
			for _, v := range vecs {
				p = p[copy(v, p):]
			}
			if err := b.BookAck(n); err != nil {
				return err
			}
		case 1:
			m, err := b.Malloc(n)
			if err != nil {
				return err
			}
			fillPattern(m, off)
			if err := b.Flush(); err != nil {
				return err
			}
		case 2:
			if _, err := b.WriteBinary(pattern(off, n)); err != nil {
				return err
			}
			if err := b.Flush(); err != nil {
				return err
			}
		case 3:
			o := New()
			o.Write(pattern(off, n))
			if err := b.Append(o); err != nil {
				return err
			}
			o.Close()
			if err := b.Flush(); err != nil {
				return err
			}
		}
		off += n
		select {
		case ready <- struct{}{}:
		default:
		}
	}
	return nil
}

func checkStream(t *testing.T, what string, p []byte, off int) {
	t.Helper()
	want := pattern(off, len(p))
	if !bytes.Equal(p, want) {
		for i := range p {
			if p[i] != want[i] {
				t.Fatalf("%s: byte %d of stream = %#x, want %#x", what, off+i, p[i], want[i])
			}
		}
	}
}
