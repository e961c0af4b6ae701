package buffer

import (
	"bytes"
	"testing"
)

func TestUnflushed(t *testing.T) {
	live := liveNodes.Load()
	b := New()
	if p := b.Unflushed(); p != nil {
		t.Fatalf("empty buffer: Unflushed = %q", p)
	}
	b.WriteString("hello")
	if p := b.Unflushed(); string(p) != "hello" {
		t.Fatalf("Unflushed = %q, want hello", p)
	}
	// Dropped whole, as a sender that wrote all of it does.
	b.MallocAck(0)
	b.Flush()
	if b.Len() != 0 || liveNodes.Load() != live {
		t.Fatalf("after the drop: Len %d, %d nodes live (want 0, %d)", b.Len(), liveNodes.Load(), live)
	}

	// Something readable ahead of the batch: nil.
	b.WriteString("ahead")
	b.Flush()
	b.WriteString("batch")
	if p := b.Unflushed(); p != nil {
		t.Fatalf("with bytes readable: Unflushed = %q", p)
	}
	// Once they are read, the batch follows them in the same node.
	if p, _ := b.Next(5); string(p) != "ahead" {
		t.Fatalf("Next = %q", p)
	}
	if p := b.Unflushed(); string(p) != "batch" {
		t.Fatalf("after the read: Unflushed = %q, want batch", p)
	}
	// Part sent: publish, then the consumer skips what went out.
	b.Flush()
	b.Skip(2)
	b.Release()
	if p, _ := b.Next(b.Len()); string(p) != "tch" {
		t.Fatalf("the rest = %q, want tch", p)
	}
	b.Release()

	// A batch over two nodes: nil.
	b.WriteBinary(bytes.Repeat([]byte{1}, minNodeSize))
	b.WriteBinary([]byte{2})
	if p := b.Unflushed(); p != nil {
		t.Fatalf("batch over two nodes: Unflushed returned %d bytes", len(p))
	}
	b.Flush()
	b.Skip(b.Len())
	b.Release()

	// Closed, with a batch open before Close: nil.
	b.WriteString("x")
	b.Close()
	if p := b.Unflushed(); p != nil {
		t.Fatalf("closed: Unflushed = %q", p)
	}
	b.Flush()
	if n := liveNodes.Load(); n != live {
		t.Fatalf("%d nodes live, want %d", n, live)
	}
}
