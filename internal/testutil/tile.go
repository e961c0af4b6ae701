package testutil

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
)

// RandomBytes returns n pseudo-random bytes fixed by seed: in such a
// stream a piece of four bytes or more almost surely occurs only once,
// which is what Tile relies on.
func RandomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// Tile reports whether pieces, in any order, are contiguous runs of stream
// that together cover it exactly once: what concurrent Reads of one
// connection must return if they are serialized. A piece of four bytes or
// more must occur exactly once in stream (make it with RandomBytes); the
// shorter ones must fill the gaps the longer ones leave.
func Tile(stream []byte, pieces [][]byte) error {
	type span struct{ off, n int }
	var placed []span
	var short [][]byte
	total := 0
	for _, p := range pieces {
		total += len(p)
		if len(p) == 0 {
			continue
		}
		if len(p) < 4 {
			short = append(short, p)
			continue
		}
		off := bytes.Index(stream, p)
		if off < 0 {
			return fmt.Errorf("a piece of %d bytes (%x...) is nowhere in the stream", len(p), p[:4])
		}
		if bytes.Contains(stream[off+1:], p) {
			return fmt.Errorf("a piece of %d bytes occurs twice in the stream: not random enough", len(p))
		}
		placed = append(placed, span{off, len(p)})
	}
	if total != len(stream) {
		return fmt.Errorf("pieces hold %d bytes, the stream %d", total, len(stream))
	}
	covered := make([]bool, len(stream))
	for _, s := range placed {
		for i := s.off; i < s.off+s.n; i++ {
			if covered[i] {
				return fmt.Errorf("byte %d delivered twice", i)
			}
			covered[i] = true
		}
	}
	// Longest first, each into the first gap position it matches.
	sort.Slice(short, func(i, j int) bool { return len(short[i]) > len(short[j]) })
next:
	for _, p := range short {
		for off := 0; off+len(p) <= len(stream); off++ {
			free := true
			for i := off; i < off+len(p); i++ {
				if covered[i] {
					free = false
					break
				}
			}
			if free && bytes.Equal(stream[off:off+len(p)], p) {
				for i := off; i < off+len(p); i++ {
					covered[i] = true
				}
				continue next
			}
		}
		return fmt.Errorf("a piece of %d bytes %x fits no gap", len(p), p)
	}
	for i, c := range covered {
		if !c {
			return fmt.Errorf("byte %d never delivered", i)
		}
	}
	return nil
}
