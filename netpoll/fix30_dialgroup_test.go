package netpoll

import (
	"math"
	"testing"
)

// The round-robin pick stays in range across the counter's wrap: the
// counter, a uint32, was converted to int before the modulo, which on a
// 32-bit platform makes every count from 2^31 on negative, so that the
// 2^31st dial of a group picked a negative index and panicked.
func TestGroupPickAcrossCounterWrap(t *testing.T) {
	g := &group{pollers: []*poller{new(poller), new(poller), new(poller)}}
	index := func(p *poller) int {
		for i, q := range g.pollers {
			if q == p {
				return i
			}
		}
		return -1
	}
	// Untyped constants: the counter's type is the fix's to choose.
	for _, start := range []struct {
		name string
		set  func()
	}{
		{"2^31-4", func() { g.rr.Store(math.MaxInt32 - 3) }},
		{"2^32-4", func() { g.rr.Store(math.MaxUint32 - 3) }},
	} {
		start.set()
		prev := -1
		for i := range 8 {
			var p *poller
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("pick %d after a count of %s: panic %v", i, start.name, r)
					}
				}()
				p = g.pick(nil)
			}()
			k := index(p)
			if k < 0 {
				t.Fatalf("pick %d after a count of %s: a poller not in the group", i, start.name)
			}
			if k == prev {
				t.Errorf("pick %d after a count of %s: poller %d twice in a row", i, start.name, k)
			}
			prev = k
		}
	}
}
