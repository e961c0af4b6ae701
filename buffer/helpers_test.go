package buffer

import (
	"bytes"
	"testing"
)

// pattern returns n deterministic bytes starting at stream offset off, so a
// reader can check any byte of a stream without keeping a copy.
func pattern(off, n int) []byte {
	p := make([]byte, n)
	fillPattern(p, off)
	return p
}

func fillPattern(p []byte, off int) {
	for i := range p {
		x := off + i
		p[i] = byte(x ^ x>>8 ^ x>>16)
	}
}

// chain returns a flushed buffer whose node boundaries fall exactly between
// the given parts: each part is written in its own buffer and appended.
func chain(t testing.TB, parts ...[]byte) *LinkBuffer {
	t.Helper()
	b := New()
	for _, p := range parts {
		part := New()
		if _, err := part.Write(p); err != nil {
			t.Fatal(err)
		}
		if err := b.Append(part); err != nil {
			t.Fatal(err)
		}
		if err := part.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	return b
}

// drain reads every readable byte with ReadBinary and releases.
func drain(t testing.TB, b *LinkBuffer) []byte {
	t.Helper()
	p, err := b.ReadBinary(b.Len())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
	return p
}

// nodeCount returns the number of nodes in b's list.
func nodeCount(b *LinkBuffer) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for nd := b.head; nd != nil; nd = nd.next {
		n++
	}
	return n
}

// checkLive fails if live nodes differ from want, the count before a test,
// or if the count is off (it would then never move).
func checkLive(t testing.TB, want int64) {
	t.Helper()
	if !nodeAccounting.Load() {
		t.Fatal("live-node accounting is off: the check would pass whatever leaked")
	}
	if got := liveNodes.Load(); got != want {
		t.Fatalf("live nodes = %d, want %d (a node leaked or was freed twice)", got, want)
	}
}

func mustEqual(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: got %d bytes %q, want %d bytes %q", what, len(got), clip(got), len(want), clip(want))
	}
}

func clip(p []byte) []byte {
	if len(p) > 40 {
		return p[:40]
	}
	return p
}
