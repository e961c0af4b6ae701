package netpoll

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// fBudgetPaused marks a connection whose reading was stopped by its
// Server's buffer budget rather than by its own bound; fInPaused is set
// with it, so that every path that resumes a paused connection (a
// reader draining, a reader waiting for more) resumes this one too.
const fBudgetPaused = fUnix << 1

// fLeftInput marks a handler-mode connection whose handler last returned
// with input still buffered: it waits for more to be called again, and
// the budget does not limit it (see budgeted). Written by the runner as
// the handler returns. Without it a connection whose handler has not yet
// run on its input looked the same, and an edge-triggered fill read up
// to its whole bound past the soft mark before its first handler run.
const fLeftInput = fUnix << 2

// budget bounds the bytes buffered, input and output, by all the
// connections of one Server (Config.BufferBudget).
//
// The bytes are counted per poller (pollerCounters.bufferedIn and
// bufferedOut), each connection publishing the change of its buffers'
// lengths since it last did (Conn.accountIn, accountOut), and each
// poller adding its change to the budget's total once it reaches a grain
// (budget.publish), so the total is within an eighth of half the limit
// of the exact sum. Below half the limit every connection reads up to
// its own bounds. From half the
// limit on, a poller reads a connection only up to its share of that
// half (half the limit over the number of connections, at least
// minReadSize), counting what it already holds in and out: connections
// holding more are paused until the sum falls below the low mark, those
// holding less go on reading, so one hog cannot starve the rest. The
// shares add up to the other half, so the sum stays within the limit
// (give or take a read per connection, and minReadSize per connection
// when there are more connections than the limit has such reads);
// nothing is dropped, the peers' bytes wait in the kernel.
//
// A connection whose reader is blocked waiting for more input, or whose
// handler returned leaving input unconsumed (it waits for more to be
// called again), is never limited by the budget: it waits for bytes it
// will consume, and pausing it could leave every connection waiting for
// the others. The budget limits the others: a handler still running
// (blocked in Flush behind a peer that does not read, say), a handler
// that consumed all its input (then the limit is on how much one read
// takes, so that a pass over many connections does not read a full
// buffer for each), an accept-mode connection whose reader is elsewhere.
// A connection paused by the budget while its handler ran is resumed
// when the run ends with input left (it waits for the rest of a message);
// one that drained below its share is resumed as it drains. The sweep
// (every sweepPeriod while connections are paused) resumes any other
// that the budget no longer limits.
type budget struct {
	limit   int64
	soft    int64 // from here on, connections read only up to their share
	low     int64 // paused connections resume below this
	pollers []*poller
	// total follows the sum of the pollers' buffered bytes within grain
	// per poller: each poller adds its change once it reaches grain
	// (publish), so the check made before every read (pressed) loads one
	// word that rarely changes instead of every poller's counters, which
	// the goroutines of other threads keep writing.
	total atomic.Int64
	grain int64
	_     cacheLine

	mu      sync.Mutex
	paused  []*Conn // paused by the budget; may hold resumed or closed ones
	npaused atomic.Int32
	sweep   *time.Timer // runs sweepPaused while paused is not empty
}

// sweepPeriod is how often the connections paused by the budget are
// looked at for a handler that returned meanwhile.
var sweepPeriod = 20 * time.Millisecond // a variable for tests only

// budgeted reports whether the budget may limit c now (see budget).
func (c *Conn) budgeted() bool {
	if c.flags.Load()&fReaderWaiting != 0 {
		return false
	}
	return c.owner.handler == nil || c.hstate.Load()&hRunning != 0 || c.in.Len() == 0 ||
		c.flags.Load()&fLeftInput == 0
}

// outLimit is how much output a writer may leave queued on c as its
// Flush returns: bound, or once the Server's buffer budget is pressed,
// no more than c's share of it less the input c holds (at least
// minReadSize). Holding back reads bounds only the output that answers
// input byte for byte: a handler that answers small requests with large
// responses to peers that do not read would otherwise queue MaxOutput on
// every connection, whatever the budget. A writer held so is woken as
// its own output drains (EPOLLOUT), as above MaxOutput.
func (c *Conn) outLimit(bound int) int {
	b := c.owner.budget
	if b == nil || !b.pressed() {
		return bound
	}
	return int(min(int64(bound), max(b.share()-int64(c.in.Len()), minReadSize)))
}

// held is what c has buffered, in and out.
func (c *Conn) held() int64 { return int64(c.in.Len()) + int64(c.out.Len()) }

func newBudget(limit int64, pollers []*poller) *budget {
	soft := limit / 2
	return &budget{limit: limit, soft: soft, low: soft - soft/8, pollers: pollers,
		grain: max(soft/int64(8*max(len(pollers), 1)), 1)}
}

// publish adds p's change of buffered bytes to b.total once it reaches
// b.grain: total then differs from the exact sum by less than grain per
// poller, an eighth of the soft mark in all.
func (b *budget) publish(p *poller) {
	cur := p.ctr.bufferedIn.Load() + p.ctr.bufferedOut.Load()
	pub := p.ctr.published.Load()
	if d := cur - pub; (d >= b.grain || d <= -b.grain) && p.ctr.published.CompareAndSwap(pub, cur) {
		b.total.Add(d)
	}
}

// pressed reports whether the buffered bytes reached the soft mark.
// It reads the published total (publish), which is within an eighth of
// the soft mark of the exact sum.
func (b *budget) pressed() bool { return b.total.Load() >= b.soft }

// used returns the bytes buffered on the budget's pollers.
func (b *budget) used() int64 {
	var n int64
	for _, p := range b.pollers {
		n += p.ctr.bufferedIn.Load() + p.ctr.bufferedOut.Load()
	}
	return n
}

// share is what one connection may hold while the budget is exceeded.
// At the limit it is a read: the shares are of the connections open
// when each was taken, and those that came since divide the same half
// again, while what the earlier ones took stays held (output their
// peers do not read cannot be taken back). Connections arriving one by
// one into a flood so held 1.36 MB against a 1 MiB budget.
func (b *budget) share() int64 {
	if b.total.Load() >= b.limit {
		return minReadSize
	}
	var conns int64
	for _, p := range b.pollers {
		conns += p.ctr.liveConns.Load()
	}
	return max(b.soft/max(conns, 1), minReadSize)
}

// add remembers c, just paused by the budget, for maybeResume.
func (b *budget) add(c *Conn) {
	b.mu.Lock()
	b.paused = append(b.paused, c)
	b.npaused.Store(int32(len(b.paused)))
	b.armSweep()
	b.mu.Unlock()
}

// armSweep starts the sweep timer unless it is running. b.mu is held.
func (b *budget) armSweep() {
	if b.sweep == nil {
		b.sweep = time.AfterFunc(sweepPeriod, b.sweepPaused)
	}
}

// sweepPaused resumes the connections paused by the budget whose handler
// is no longer running; the others stay paused.
func (b *budget) sweepPaused() {
	b.mu.Lock()
	b.sweep = nil
	list := b.paused
	b.paused = nil
	b.mu.Unlock()
	var keep, resume []*Conn
	for _, c := range list {
		f := c.flags.Load()
		switch {
		case f&fBudgetPaused == 0 || c.fdst.closed():
			// resumed meanwhile, or gone
		case c.budgeted() && c.held() >= b.share():
			keep = append(keep, c)
		default:
			resume = append(resume, c)
		}
	}
	b.mu.Lock()
	b.paused = append(b.paused, keep...)
	b.npaused.Store(int32(len(b.paused)))
	if len(b.paused) > 0 {
		b.armSweep()
	}
	b.mu.Unlock()
	for _, c := range resume {
		if c.incref() {
			c.resumeInput()
			c.decref()
		}
	}
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
func (c *Conn) accountIn() int64 { return c.account(0, c.in.Len()) }

// accountOut is accountIn for the output.
func (c *Conn) accountOut() int64 { return c.account(32, c.out.Len()) }

// account publishes cur as the length kept at bit shift of c.acct (0:
// input, 32: output) and adds the change to the poller's counter. The
// lengths fit 32 bits: the bounds are at most 1 GiB (validate), and a
// buffer holds at most its bound plus one read or one write batch.
func (c *Conn) account(shift uint, cur int) int64 {
	for {
		old := c.acct.Load()
		prev := uint32(old >> shift)
		if prev == uint32(cur) {
			return 0
		}
		nw := old&^(uint64(math.MaxUint32)<<shift) | uint64(uint32(cur))<<shift
		if !c.acct.CompareAndSwap(old, nw) {
			continue
		}
		d := int64(cur) - int64(prev)
		if shift == 0 {
			c.p.ctr.bufferedIn.Add(d)
		} else {
			c.p.ctr.bufferedOut.Add(d)
		}
		if b := c.owner.budget; b != nil {
			b.publish(c.p)
		}
		return d
	}
}

// drained runs after c's buffers shrank (d < 0): c, if the budget
// paused it and it is now below its share, and the other connections the
// budget paused, if the buffered bytes fell below the low mark, resume.
func (c *Conn) drained(d int64) {
	b := c.owner.budget
	if d >= 0 || b == nil {
		return
	}
	if c.flags.Load()&fBudgetPaused != 0 && c.held() < b.share() {
		c.resumeInput()
	}
	b.maybeResume()
}

// dropBuffered takes a destroyed connection out of the counters.
func (c *Conn) dropBuffered() {
	if c.p == nil {
		return
	}
	d := c.account(0, 0) + c.account(32, 0) // minus what was counted
	c.clearPaused()
	c.drained(d)
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
