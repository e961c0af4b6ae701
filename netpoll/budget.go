package netpoll

import (
	"sync"
	"sync/atomic"
)

// fBudgetPaused marks a connection whose reading was stopped by its
// Server's buffer budget rather than by its own bound; fInPaused is set
// with it, so that every path that resumes a paused connection (a
// reader draining, a reader waiting for more) resumes this one too.
const fBudgetPaused = fUnix << 1

// budget bounds the bytes buffered, input and output, by all the
// connections of one Server (Config.BufferBudget).
//
// The bytes are counted per poller (pollerCounters.bufferedIn and
// bufferedOut), each connection publishing the change of its buffers'
// lengths since it last did (Conn.accountIn, accountOut). While the sum
// is at or over the limit, a poller reads a connection only up to a fair
// share of the limit (the limit over the number of connections, at least
// minReadSize) counting what it already holds in and out: connections
// holding more are paused until the sum falls below the low mark, those
// holding less go on reading, so one hog cannot starve the rest. The
// sum may thus pass the limit by up to one share per connection (and a
// read each); nothing is dropped, the peers' bytes wait in the kernel.
//
// A connection whose reader is blocked waiting for more input is never
// paused by the budget: it waits for bytes it will consume, and pausing
// it could leave every connection waiting for the others.
type budget struct {
	limit   int64
	low     int64 // paused connections resume below this
	pollers []*poller

	mu      sync.Mutex
	paused  []*Conn // paused by the budget; may hold resumed or closed ones
	npaused atomic.Int32
}

func newBudget(limit int64, pollers []*poller) *budget {
	return &budget{limit: limit, low: limit - limit/8, pollers: pollers}
}

// used returns the bytes buffered on the budget's pollers.
func (b *budget) used() int64 {
	var n int64
	for _, p := range b.pollers {
		n += p.ctr.bufferedIn.Load() + p.ctr.bufferedOut.Load()
	}
	return n
}

// share is what one connection may hold while the budget is exceeded.
func (b *budget) share() int64 {
	var conns int64
	for _, p := range b.pollers {
		conns += p.ctr.liveConns.Load()
	}
	return max(b.limit/max(conns, 1), minReadSize)
}

// add remembers c, just paused by the budget, for maybeResume.
func (b *budget) add(c *Conn) {
	b.mu.Lock()
	b.paused = append(b.paused, c)
	b.npaused.Store(int32(len(b.paused)))
	b.mu.Unlock()
}

// maybeResume restarts the connections the budget paused once the
// buffered bytes fell below the low mark. The caller holds no emu: a
// resume takes the resumed connection's.
func (b *budget) maybeResume() {
	if b.npaused.Load() == 0 || b.used() >= b.low {
		return
	}
	b.mu.Lock()
	list := b.paused
	b.paused = nil
	b.npaused.Store(0)
	b.mu.Unlock()
	for i, c := range list {
		if c.incref() {
			if c.flags.Load()&fBudgetPaused != 0 {
				c.resumeInput()
			}
			c.decref()
		}
		list[i] = nil
	}
}

// accountIn publishes the change of c's buffered input since the last
// call and returns it. Concurrent calls may publish a stale length for a
// moment, but the counters always equal the sum of what each connection
// last published, and the next call corrects it.
func (c *Conn) accountIn() int64 {
	cur := int64(c.in.Len())
	if cur == c.acctIn.Load() {
		return 0
	}
	d := cur - c.acctIn.Swap(cur)
	if d != 0 {
		c.p.ctr.bufferedIn.Add(d)
	}
	return d
}

// accountOut is accountIn for the output.
func (c *Conn) accountOut() int64 {
	cur := int64(c.out.Len())
	if cur == c.acctOut.Load() {
		return 0
	}
	d := cur - c.acctOut.Swap(cur)
	if d != 0 {
		c.p.ctr.bufferedOut.Add(d)
	}
	return d
}

// drained runs after c's buffers shrank (d < 0): paused connections of
// the budget may resume.
func (c *Conn) drained(d int64) {
	if b := c.owner.budget; d < 0 && b != nil {
		b.maybeResume()
	}
}

// dropBuffered takes a destroyed connection out of the counters.
func (c *Conn) dropBuffered() {
	if c.p == nil {
		return
	}
	d := -c.acctIn.Swap(0)
	c.p.ctr.bufferedIn.Add(d)
	dOut := -c.acctOut.Swap(0)
	c.p.ctr.bufferedOut.Add(dOut)
	c.clearPaused()
	c.drained(d + dOut)
}

// pause states, for the counters.
const (
	pauseNone = iota
	pauseBound
	pauseBudget
)

func pauseState(f uint32) int {
	switch {
	case f&fBudgetPaused != 0:
		return pauseBudget
	case f&fInPaused != 0:
		return pauseBound
	}
	return pauseNone
}

// setPaused stops reading c, by the budget or by its bound.
func (c *Conn) setPaused(byBudget bool) {
	bits := uint32(fInPaused)
	if byBudget {
		bits |= fBudgetPaused
	}
	for {
		old := c.flags.Load()
		nf := old&^uint32(fBudgetPaused) | bits
		if c.flags.CompareAndSwap(old, nf) {
			c.p.ctr.movePause(pauseState(old), pauseState(nf))
			return
		}
	}
}

// clearPaused clears both pause bits and reports whether c was paused.
func (c *Conn) clearPaused() bool {
	old := c.flags.And(^uint32(fInPaused | fBudgetPaused))
	c.p.ctr.movePause(pauseState(old), pauseNone)
	return old&fInPaused != 0
}

// movePause keeps the paused-connection gauges.
func (c *pollerCounters) movePause(from, to int) {
	if from == to {
		return
	}
	switch from {
	case pauseBound:
		c.pausedBound.Add(-1)
	case pauseBudget:
		c.pausedBudget.Add(-1)
	}
	switch to {
	case pauseBound:
		c.pausedBound.Add(1)
	case pauseBudget:
		c.pausedBudget.Add(1)
	}
}
