package netpoll

import (
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestStaleEvent feeds an event whose generation no longer matches: the
// slot was freed and reused by another connection.
func TestStaleEvent(t *testing.T) {
	skipStd(t, "epoll events of a reused slot")
	s, addr, conns := startAccept(t, WithPollers(1))
	p := s.pollers[0]
	cl1 := dialTCP(t, addr)
	c1 := recvConn(t, conns)
	slot, gen := c1.slot, p.reg.gen(c1.slot)
	c1.Close()
	cl1.Close()
	if !testutil.WaitFor(2*time.Second, func() bool { return p.reg.lookup(slot, gen) == nil }) {
		t.Fatal("slot not freed")
	}
	dialTCP(t, addr)
	c2 := recvConn(t, conns)
	defer c2.Close()
	gen2 := p.reg.gen(c2.slot)
	if c2.slot != slot || gen2 == gen {
		t.Fatalf("slot reuse: old %d/%d new %d/%d", slot, gen, c2.slot, gen2)
	}
	if p.reg.lookup(slot, gen) != nil {
		t.Fatal("lookup with the old generation found a connection")
	}
	if p.reg.lookup(slot, gen2) != c2 {
		t.Fatal("lookup with the new generation failed")
	}
	// The same through the poller's event routing, on an idle poller
	// value: the stale event is counted and dropped.
	q := &poller{}
	idx, g, _ := q.reg.add(c2)
	q.reg.remove(idx)
	ev := event{slot: idx, gen: g, ready: evIn}
	q.handle(&ev)
	if q.ctr.staleEvents.Load() != 1 || len(q.requeue) != 0 {
		t.Fatalf("stale event not dropped (stale=%d)", q.ctr.staleEvents.Load())
	}
}
