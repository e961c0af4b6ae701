package buffer

import (
	"bytes"
	"io"
	"testing"
	"time"
)

func TestUseAfterClose(t *testing.T) {
	live := liveNodes.Load()
	b := New()
	b.Write(pattern(0, 3*minNodeSize))
	b.Next(10)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkLive(t, live)
	if b.Len() != 0 {
		t.Fatalf("Len after Close = %d", b.Len())
	}
	calls := map[string]func() error{
		"Close":        b.Close,
		"Release":      b.Release,
		"Flush":        b.Flush,
		"Skip":         func() error { return b.Skip(0) },
		"Next":         func() error { _, err := b.Next(0); return err },
		"Peek":         func() error { _, err := b.Peek(0); return err },
		"Until":        func() error { _, err := b.Until('\n'); return err },
		"ReadByte":     func() error { _, err := b.ReadByte(); return err },
		"ReadBinary":   func() error { _, err := b.ReadBinary(0); return err },
		"ReadString":   func() error { _, err := b.ReadString(0); return err },
		"Slice":        func() error { _, err := b.Slice(0); return err },
		"Read":         func() error { _, err := b.Read(make([]byte, 1)); return err },
		"WriteTo":      func() error { _, err := b.WriteTo(io.Discard); return err },
		"Malloc":       func() error { _, err := b.Malloc(1); return err },
		"Malloc(0)":    func() error { _, err := b.Malloc(0); return err },
		"MallocAck(0)": func() error { return b.MallocAck(0) },
		"WriteForeign": func() error { return b.WriteForeign([]byte("x"), &countReleaser{}, 0) },
		"WriteBinary":  func() error { _, err := b.WriteBinary([]byte("x")); return err },
		"WriteString":  func() error { _, err := b.WriteString("x"); return err },
		"WriteByte":    func() error { return b.WriteByte('x') },
		"Write":        func() error { _, err := b.Write([]byte("x")); return err },
		"ReadFrom":     func() error { _, err := b.ReadFrom(&errAfter{}); return err },
		"Append":       func() error { o := New(); o.Write([]byte("x")); return b.Append(o) },
		"AppendFrom":   func() error { return New().Append(b) },
	}
	for name, call := range calls {
		if err := call(); err != ErrClosed {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if v := b.Book(10, nil); len(v) != 0 {
		t.Errorf("Book after Close returned %d slices", len(v))
	}
	if v := b.GetBytes(make([][]byte, 0, 2)); len(v) != 0 {
		t.Errorf("GetBytes after Close returned %d slices", len(v))
	}
	if err := b.BookAck(0); err != ErrClosed {
		t.Errorf("BookAck after Close: %v", err)
	}
}

// TestCloseDuringWriteBatch: Close may overlap a producer's open batch; the
// producer's Flush then frees the batch and reports ErrClosed.
func TestCloseDuringWriteBatch(t *testing.T) {
	for _, published := range []int{0, 10, minNodeSize + 10} {
		live := liveNodes.Load()
		b := New()
		b.Write(pattern(0, published))
		p, err := b.Malloc(2 * minNodeSize)
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		clear(p) // the producer's slice is still its own
		b.WriteString("more")
		if err := b.Flush(); err != ErrClosed {
			t.Fatalf("Flush after Close: %v", err)
		}
		checkLive(t, live)
	}
}

type errAfter struct{}

func (*errAfter) Read(p []byte) (int, error) { return 0, io.EOF }

// TestFlushEmptyBatch: a batch that wrote nothing, opened on an empty buffer
// (Malloc(0)) or on a buffer with readable bytes, closes without a node.
func TestFlushEmptyBatch(t *testing.T) {
	live := liveNodes.Load()
	b := New()
	if _, err := b.Malloc(0); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 0 || nodeCount(b) != 0 {
		t.Fatalf("after an empty batch: Len %d, %d nodes", b.Len(), nodeCount(b))
	}
	b.WriteString("ab")
	b.Flush()
	b.Malloc(0)
	if err := b.Flush(); err != nil || b.Len() != 2 {
		t.Fatalf("empty batch after 2 bytes: Len %d, %v", b.Len(), err)
	}
	mustEqual(t, "bytes", drain(t, b), []byte("ab"))
	if nodeCount(b) != 0 {
		t.Fatalf("drained buffer holds %d nodes", nodeCount(b))
	}
	checkLive(t, live)
}

// TestCloseRacesFlush closes a buffer while a producer goroutine writes and
// flushes, so that Close lands before, inside and after the producer's
// batches (Flush takes no lock for a one-node batch). Every node must come
// back, and the producer must see ErrClosed. Run it under -race.
func TestCloseRacesFlush(t *testing.T) {
	rounds := 300
	if testing.Short() {
		rounds = 50
	}
	live := liveNodes.Load()
	payload := pattern(0, 100)
	for i := range rounds {
		b := New()
		done := make(chan error, 1)
		go func() {
			for range 100_000 {
				if _, err := b.WriteBinary(payload[:1+i%len(payload)]); err != nil {
					done <- err
					return
				}
				if err := b.Flush(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		// Consume a little first, so that Close also meets published bytes.
		for range i % 8 {
			if b.Len() > 0 {
				b.Next(1)
				b.Release()
			}
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if err != ErrClosed {
				t.Fatalf("round %d: producer ended with %v, want ErrClosed", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: producer did not stop", i)
		}
		if b.Len() != 0 || nodeCount(b) != 0 {
			t.Fatalf("round %d: closed buffer: Len %d, %d nodes", i, b.Len(), nodeCount(b))
		}
	}
	checkLive(t, live)
}

// TestFreeReturnsEverything checks that Free gives back what Close must
// leave to a possibly running producer: an outstanding Book and written
// but unflushed bytes, also after a Close.
func TestFreeReturnsEverything(t *testing.T) {
	if !nodeAccounting.Load() {
		t.Skip("node accounting off")
	}
	tests := []struct {
		name string
		fill func(b *LinkBuffer)
	}{
		{"book outstanding", func(b *LinkBuffer) { b.Book(64<<10, nil) }},
		{"unflushed write", func(b *LinkBuffer) { b.WriteBinary(make([]byte, 10000)) }},
		{"published and unflushed", func(b *LinkBuffer) {
			b.WriteBinary(make([]byte, 9000))
			b.Flush()
			b.Next(100)
			b.WriteString("tail")
		}},
		{"malloc", func(b *LinkBuffer) { b.Malloc(5000) }},
	}
	for _, tt := range tests {
		for _, closeFirst := range []bool{false, true} {
			live := liveNodes.Load()
			b := New()
			tt.fill(b)
			if closeFirst {
				b.Close()
			}
			b.Free()
			b.Free()
			if d := liveNodes.Load() - live; d != 0 {
				t.Errorf("%s (close first %v): %d nodes not returned", tt.name, closeFirst, d)
			}
			if _, err := b.Next(1); err != ErrClosed {
				t.Errorf("%s: Next after Free = %v, want ErrClosed", tt.name, err)
			}
			if _, err := b.WriteString("x"); err == nil {
				if err := b.Flush(); err != ErrClosed {
					t.Errorf("%s: Flush after Free = %v, want ErrClosed", tt.name, err)
				}
			}
			if d := liveNodes.Load() - live; d != 0 {
				t.Errorf("%s: a write after Free kept %d nodes", tt.name, d)
			}
		}
	}
}

// Close and Free leave the nodes behind slices that the consumer still
// holds (Next, Peek, GetBytes, not yet released) to the garbage
// collector: the next buffer's node must not be the memory the slices
// point into, or a stale reader would see another buffer's bytes and
// write into them. A Release before the Close makes them invalid, and
// then the nodes go back to the pool as before. Views made by Slice keep
// the bytes they share, and LiveNodes balances either way.
func TestCloseKeepsLentSlices(t *testing.T) {
	lend := map[string]func(b *LinkBuffer) []byte{
		"Next": func(b *LinkBuffer) []byte { p, _ := b.Next(64); return p },
		"Peek": func(b *LinkBuffer) []byte { p, _ := b.Peek(64); return p },
		"GetBytes": func(b *LinkBuffer) []byte {
			return b.GetBytes(make([][]byte, 0, 1))[0][:64]
		},
		"Next across nodes": func(b *LinkBuffer) []byte {
			b.Skip(minNodeSize - 32)
			b.Release()
			p, _ := b.Next(64)
			return p
		},
	}
	closers := map[string]func(b *LinkBuffer){"Close": func(b *LinkBuffer) { b.Close() }, "Free": (*LinkBuffer).Free}
	for name, f := range lend {
		for cname, cl := range closers {
			t.Run(name+"/"+cname, func(t *testing.T) {
				live := liveNodes.Load()
				for round := range 20 {
					b := New()
					b.Write(bytes.Repeat([]byte("A"), 2*minNodeSize))
					keep, _ := b.Slice(0) // an empty Slice: nothing shared
					p := f(b)
					cl(b)
					// The pool's most recent node goes to the next buffer.
					o := New()
					o.Write(bytes.Repeat([]byte("B"), 2*minNodeSize))
					q, _ := o.Next(2 * minNodeSize)
					if !bytes.Equal(p, bytes.Repeat([]byte("A"), 64)) {
						t.Fatalf("round %d: a slice held across %s reads %q: its node went to another buffer", round, cname, p[:8])
					}
					for i := range p {
						p[i] = 'Z'
					}
					if bytes.IndexByte(q, 'Z') >= 0 {
						t.Fatalf("round %d: a stale holder's write reached another buffer", round)
					}
					o.Close()
					keep.Close()
				}
				checkLive(t, live)
			})
		}
	}
	t.Run("released first", func(t *testing.T) {
		live := liveNodes.Load()
		b := New()
		b.Write(bytes.Repeat([]byte("A"), 64))
		b.Next(32)
		b.Release()
		if b.lent {
			t.Fatal("Release left the buffer marked lent")
		}
		b.Close()
		checkLive(t, live)
	})
	t.Run("view shared", func(t *testing.T) {
		live := liveNodes.Load()
		b := New()
		b.Write(bytes.Repeat([]byte("A"), 64))
		s, _ := b.Slice(16) // a view of the node, owned by s
		p, _ := b.Next(16)
		b.Close() // abandons the node; s still holds it
		mustEqual(t, "the Slice after Close", drain(t, s), bytes.Repeat([]byte("A"), 16))
		s.Close() // the last reference: the node's bytes stay detached
		o := New()
		o.Write(bytes.Repeat([]byte("B"), 64))
		if !bytes.Equal(p, bytes.Repeat([]byte("A"), 16)) {
			t.Fatalf("a slice held across Close reads %q after the Slice sharing its node closed", p)
		}
		o.Close()
		checkLive(t, live)
	})
}
