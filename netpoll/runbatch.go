package netpoll

import "sync/atomic"

// DispatchPool batches the handler runs that one pass of the poller
// makes ready. Submitting a pool task per connection costs a goroutine
// hand-off per message (an ants channel send that readies a parked
// worker, often on the other core), a large share of the server's CPU
// per message. Instead the poller collects the runs of one pass and
// starts at most GOMAXPROCS tasks that claim them in turn from a shared
// index, so a pass with 60 ready connections costs 2 hand-offs, not 60,
// and the connections still run in parallel on every core.
//
// Claiming one run at a time means a handler that blocks holds up only
// runs no task has claimed yet, and only while every task of the batch
// is busy: the poller checks its outstanding batches on every pass and,
// rescueDelay after a batch was started, gives each run still unclaimed
// a task of its own (dispatch) — once every task of the batch has begun.
// A task that has not begun is late, not blocked: it will claim runs as
// soon as it is scheduled, and rescuing then would only take more of the
// pool, which under FailFast refuses (closes) the connections the
// batch's own tasks were about to serve. Order per connection is
// unaffected: a connection has at most one run scheduled at a time
// (hstate), whether that run sits in a batch, in the backlog or in the
// pool.
//
// docs/tuning.md has the measurements, and the variants of this scheme
// that were tried and not kept.
type runBatch struct {
	conns    []*Conn
	queuedAt int64        // when the batch was made (clock.go; the handler queue wait)
	next     atomic.Int32 // index of the next unclaimed run
	begun    atomic.Int32 // tasks that have started drain
	started  int32        // tasks the pool took; poller goroutine only
	rescueAt int64        // clock.go; poller goroutine only
}

// claim takes the next unclaimed run, or nil when none is left.
func (b *runBatch) claim() *Conn {
	i := int(b.next.Add(1)) - 1
	if i >= len(b.conns) {
		return nil
	}
	return b.conns[i]
}

// drain is the body of a batch's pool tasks.
func (b *runBatch) drain() {
	b.begun.Add(1)
	for c := b.claim(); c != nil; c = b.claim() {
		c.run(b.queuedAt, false)
	}
}

// done reports whether every run of b has been claimed.
func (b *runBatch) done() bool { return int(b.next.Load()) >= len(b.conns) }

// collect queues c's handler run for the end of the pass, or marks its
// running runner to go again. Poller goroutine only, during a pass,
// under a reference to c. It reports whether that reference went with
// c: under DispatchHandoff a queued run is the leader's (runReady), and
// runs with the caller's reference and settles c's input (see onEvent);
// DispatchPool's runs take their own on the pool's goroutines.
func (p *poller) collect(c *Conn) (passed bool) {
	if c.startRunner() {
		p.ready = append(p.ready, c)
		return p.cfg.Dispatch == DispatchHandoff
	}
	return false
}

// flushReady starts the runs collected during the pass that just ended.
func (p *poller) flushReady(now int64) {
	r := p.ready
	switch len(r) {
	case 0:
		return
	case 1:
		r[0].dispatchAt(now)
	default:
		p.startBatch(&runBatch{conns: append([]*Conn(nil), r...), queuedAt: now}, now)
	}
	clear(r)
	p.ready = r[:0]
}

// startBatch hands b to up to claimants pool tasks. A batch no task
// could take goes to the backlog run by run, like a single run that
// finds the pool full.
func (p *poller) startBatch(b *runBatch, now int64) {
	pool := b.conns[0].owner.cfg.Pool
	drain := b.drain // one method value for every task
	started := 0
	for range min(len(b.conns), p.claimants) {
		if pool.TryGo(drain) != nil {
			break
		}
		started++
	}
	if started == 0 {
		for c := b.claim(); c != nil; c = b.claim() {
			p.backlog.push(c, b.queuedAt)
		}
		return
	}
	b.started = int32(started)
	p.ctr.batches.Add(1)
	p.ctr.batchedRuns.Add(uint64(len(b.conns)))
	if !b.done() {
		b.rescueAt = now + int64(rescueDelay)
		p.batches = append(p.batches, b)
	}
}

// rescue forgets finished batches and gives every run that waited
// unclaimed for rescueDelay, behind tasks that have all begun, a task
// of its own; a batch with a task not begun yet is looked at again
// rescueDelay later. force (the loop is ending) rescues every unclaimed
// run at once.
func (p *poller) rescue(now int64, force bool) {
	kept := p.batches[:0]
	for _, b := range p.batches {
		switch {
		case b.done():
		case now < b.rescueAt:
			kept = append(kept, b)
		case !force && b.begun.Load() < b.started:
			b.rescueAt = now + int64(rescueDelay)
			kept = append(kept, b)
		default:
			for c := b.claim(); c != nil; c = b.claim() {
				p.ctr.rescues.Add(1)
				c.dispatchAt(b.queuedAt)
			}
		}
	}
	clear(p.batches[len(kept):])
	p.batches = kept
}

// rescueWait is how long the next wait may block before a rescue is
// due, in ms rounded up (-1: no batch outstanding). Batches are appended
// as they start, but a batch whose tasks had not begun is looked at
// again later (rescue), so the first is not always due first.
func (p *poller) rescueWait(now int64) int {
	if len(p.batches) == 0 {
		return -1
	}
	due := p.batches[0].rescueAt
	for _, b := range p.batches[1:] {
		due = min(due, b.rescueAt)
	}
	return msUntil(due, now)
}
