package netpoll

import (
	"sync"
	"sync/atomic"
	"time"
)

// DispatchHandoff runs handlers on the goroutine that holds a poller's
// duty (its leader): the goroutine that waits for events, reads input
// and runs the loop. A pass reads every ready socket first, collecting
// the connections that got input in p.ready, then runs their handlers
// one by one (runReady). When a handler blocks, the duty passes to
// another goroutine, which resumes the pass at the next ready
// connection and then goes on with the loop; the goroutine whose
// handler blocked finishes that connection's run like any pool runner
// and leaves. This is the runtime's hand-off of a P whose M blocks in a
// syscall, with the poller loop in the role of the P.
//
// The duty word says whether the leader is inside a handler:
//
//	even  the leader is between handlers (or waiting, or reading)
//	odd   the leader is inside the handler of p.cur
//
//	even ──enterHandler──▶ odd ──leaveHandler (CAS)──▶ even+2: still the leader
//	                        odd ──takeDuty (CAS)──────▶ even+2: duty passed on
//
// Only the leader moves the word from even to odd. Leaving a handler
// and taking the duty away are the same compare-and-swap from odd to
// the next even value, so exactly one of them wins: either the leader
// goes on, or a new leader is started and the old one, seeing its CAS
// fail, no longer touches anything the leader owns (p.ready, p.events,
// the requeue and batch lists). The word also grows with every handler
// run, so the watchdog tells a handler that has run since its last look
// (a new odd value) from one that is still running (the same odd value).
//
// The duty is taken in two ways:
//   - A handler that is about to sleep in a Conn call (waitRead for more
//     input, flushOut for output room) gives it up first (yieldFrom):
//     the input it waits for may be the poller's to read. A dial about
//     to wait for a name lookup or its connect (a BackendStd group's
//     dial, which waits inside Go's net: before it begins) takes it from
//     every poller inside a handler, of every group, since the caller
//     may be that handler; once per dial (yieldHandlers).
//   - The watchdog takes it from a handler it finds in the same run on
//     two ticks in a row (a sleep, a lock, a syscall, a long loop).
type duty struct {
	word atomic.Uint64
	cur  atomic.Pointer[Conn] // the connection whose handler the leader runs; set before word turns odd
}

// The watchdog's period: handoffTick after a look that found a handler
// running (so a blocked one loses the duty one to two ticks after it
// started), doubling up to maxWatchdogTick while looks find none (so a
// server with little traffic pays for few wake-ups), and no ticks at all
// after watchdogIdleTicks looks in a row saw no handler run.
const (
	handoffTick       = time.Millisecond
	maxWatchdogTick   = 8 * time.Millisecond
	watchdogIdleTicks = 16
)

// enterHandler marks the leader inside c's handler and returns the
// word to leave with. Leader only.
func (p *poller) enterHandler(c *Conn) uint64 {
	d := p.duty.word.Load() + 1
	p.duty.cur.Store(c)
	p.duty.word.Store(d)
	if wd := p.watchdog; wd != nil && wd.sleeping.Load() {
		wd.wake()
	}
	return d
}

// leaveHandler reports whether the caller still holds the duty after
// the handler entered with d returned.
func (p *poller) leaveHandler(d uint64) bool {
	return p.duty.word.CompareAndSwap(d, d+1)
}

// runsHandlerOf reports whether p's leader is inside c's handler. It
// does not say that the caller is that handler: another goroutine
// calling it while the handler runs gets true too.
func (p *poller) runsHandlerOf(c *Conn) bool {
	return p.duty.word.Load()&1 != 0 && p.duty.cur.Load() == c
}

// takeDuty passes the duty on if the leader is still inside the handler
// it entered with d, and reports whether it did.
func (p *poller) takeDuty(d uint64) bool {
	c := p.duty.cur.Load() // before the CAS: the next handler's entry moves it
	if d&1 == 0 || !p.duty.word.CompareAndSwap(d, d+1) {
		return false
	}
	p.ctr.handoffs.Add(1)
	p.startLeader()
	// The blocked handler's connection came with its last read not yet
	// accounted (onEvent): the budget must see it while the handler
	// waits. Under a reference: the handler may return and its run end
	// meanwhile, and an account published after the connection's
	// destroy (dropBuffered) would stay in the totals for good.
	if c != nil && c.incref() {
		c.accountIn()
		c.decref()
	}
	return true
}

// yieldFrom passes the duty on when the leader is inside c's handler:
// called by Conn calls that are about to sleep. A call from another
// goroutine mostly finds the word even or p.cur on another connection
// and does nothing; one made on c while c's handler runs (from a
// goroutine the handler handed c to) passes the duty on too: the word
// tells no caller from another, and the cost is a hand-off.
func (p *poller) yieldFrom(c *Conn) {
	if p.cfg.Dispatch != DispatchHandoff {
		return
	}
	d := p.duty.word.Load()
	if d&1 != 0 && p.duty.cur.Load() == c {
		p.takeDuty(d)
	}
}

// startLeader starts a goroutine that takes over the loop: one of its
// own, as the poller's first. Not a pool worker: the loop must never
// wait for one (see backlog), and a leader holds its goroutine until
// the next hand-off, possibly for good, so a worker it took would be
// gone from the pool (with a capacity of one per poller, the pool had
// none left for OnConnect hooks and runs after a Close, which waited
// forever, or failed under FailFast).
func (p *poller) startLeader() {
	go p.leadFn()
}

// runReady runs the handlers of the connections the pass made ready,
// from p.readyNext on, and reports whether the caller still holds the
// duty. Each run takes over the reference its onEvent held (collect).
// Leader only; under other dispatch modes p.ready is endPass's.
func (p *poller) runReady() bool {
	if p.cfg.Dispatch != DispatchHandoff {
		return true
	}
	for p.readyNext < len(p.ready) {
		c := p.ready[p.readyNext]
		p.ready[p.readyNext] = nil
		p.readyNext++
		if !c.run(0, true) {
			return false
		}
	}
	p.ready = p.ready[:0]
	p.readyNext = 0
	return true
}

// watchdog takes the duty from handlers that block without calling
// into a Conn: one goroutine per Server, waking every handoffTick while
// handlers run and sleeping while none does.
type watchdog struct {
	pollers  []*poller
	sleeping atomic.Bool
	wakeCh   chan struct{} // 1-buffered: a wake-up while sleeping
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// newWatchdog makes a watchdog for pollers yet to be made (newPoller
// takes it); start runs it.
func newWatchdog() *watchdog {
	return &watchdog{
		wakeCh: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// start watches pollers.
func (wd *watchdog) start(pollers []*poller) {
	wd.pollers = pollers
	go wd.run()
}

// wake ends the watchdog's sleep.
func (wd *watchdog) wake() {
	if wd.sleeping.CompareAndSwap(true, false) {
		select {
		case wd.wakeCh <- struct{}{}:
		default:
		}
	}
}

// close stops the watchdog. Its pollers must have stopped first: a
// poller closing behind a blocked handler needs the watchdog to pass
// its duty to a goroutine that sees the close.
func (wd *watchdog) close() {
	wd.once.Do(func() { close(wd.stop) })
	<-wd.done
}

func (wd *watchdog) run() {
	defer close(wd.done)
	last := make([]uint64, len(wd.pollers))
	period := handoffTick
	timer := time.NewTimer(period)
	defer timer.Stop()
	idle := 0
	for {
		select {
		case <-wd.stop:
			return
		case <-timer.C:
		}
		changed, inside := false, false
		for i, p := range wd.pollers {
			d := p.duty.word.Load()
			if d != last[i] {
				changed = true
			}
			if d&1 != 0 {
				inside = true
				if d == last[i] && p.takeDuty(d) {
					p.ctr.watchdogHandoffs.Add(1)
					d++
				}
			}
			last[i] = d
		}
		switch {
		case inside:
			period, idle = handoffTick, 0
		case changed:
			period, idle = min(2*period, maxWatchdogTick), 0
		default:
			idle++
		}
		if idle >= watchdogIdleTicks {
			idle, period = 0, handoffTick
			if !wd.sleep(last) {
				return
			}
		}
		timer.Reset(period)
	}
}

// sleep parks the watchdog until a handler starts, unless one started
// since last was read; it reports false if stopped. The flag is
// published before the words are looked at again, and a leader
// publishes its word before it looks at the flag, so one of the two
// sees the other: no handler can start unwatched.
func (wd *watchdog) sleep(last []uint64) bool {
	wd.sleeping.Store(true)
	for i, p := range wd.pollers {
		if p.duty.word.Load() != last[i] {
			wd.sleeping.Store(false)
			return true
		}
	}
	select {
	case <-wd.stop:
		return false
	case <-wd.wakeCh:
		return true
	}
}
