package netpoll

import (
	"math"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// maxEvents is the size of one epoll_wait batch.
const maxEvents = 256

// eventBatch is the size of a poller's event batch, maxEvents but in
// tests that need every batch full.
var eventBatch = maxEvents

// poller runs one epoll instance on its own goroutine: it waits for
// events, maps each to its connection or listener, reads input, flushes
// pending output, accepts, and dispatches handlers.
type poller struct {
	id  int
	ep  *pollset
	cfg *config
	reg registry
	ctr pollerCounters

	// Cross-goroutine requests: connections to read again (resumed
	// after backpressure). wakeFlag coalesces eventfd writes: it is set
	// by the first waker and cleared by the poller before it drains.
	qmu      sync.Mutex
	queue    []*Conn
	wakeFlag atomic.Uint32
	// runq: connections whose held runner is to start on this loop
	// (runOnLoop); under qmu.
	runq []*Conn
	// inlineRuns counts the DispatchInline handler, OnConnect and
	// OnDisconnect runs under way on this poller's connections
	// (onInlineLoop).
	inlineRuns atomic.Int32

	// relays maps a connection of this poller whose output refused an
	// inline handler's write (ErrWouldBlock), the handler's own
	// connection being another, to the connections whose handlers to
	// run again once it has drained or closed (relay.go); under
	// relayMu.
	relayMu sync.Mutex
	relays  map[*Conn][]*Conn
	// blockedOn is the connection that refused the write of the inline
	// handler running on this loop, with a reference (relay.go).
	// Stored by the loop only; atomic, since runners off the loop
	// (an OnDisconnect on a closer's goroutine) look at it too.
	blockedOn atomic.Pointer[Conn]

	// FlushAsync: connections whose output the poller is to send, a
	// reference each (flushasync.go); under qmu, as is flushDone.
	flushq     []*Conn
	flushSpare []*Conn // the poller's: last drain's slice, reused
	flushDone  bool

	// minIdle is the smallest idle timeout among this poller's
	// connections (ns; 0: none); it sets the idle sweep period.
	minIdle atomic.Int64

	// backlog holds handler runs that found the pool full.
	backlog backlog

	lmu       sync.Mutex
	listeners []*acceptor // listener i is tagged tagListener-i

	closing atomic.Bool
	done    chan struct{}

	// loopG is the id of the goroutine that runs the loop, under
	// DispatchInline (see onLoop).
	loopG atomic.Uint64
	// runsInline: the loop runs handlers or hooks inline
	// (DispatchInline with any), so an inline handler elsewhere must
	// not wait for it (onInlineLoop). Set before the loop starts.
	runsInline bool

	// shutLooks counts Server.Shutdown's requests for a look at p's
	// connections (closeIdle); shutLooked, the duty holder's, is the
	// last one looked for.
	shutLooks  atomic.Uint32
	shutLooked uint32

	// passSeq is odd while the duty holder runs a pass (the only time
	// input moves from a socket, or the ring, into a connection's
	// buffer) and even otherwise, while it waits among them: the holder
	// adds 1 when a wait returns and 1 when the pass ends (inPass
	// cleared). A look from another goroutine that reads the same even
	// value before and after overlapped no pass (quietLook).
	passSeq atomic.Uint32

	// BackendStd: no pollset and no loop (std.go); sweeping says that
	// the idle sweep goroutine runs.
	std      bool
	sweeping atomic.Bool
	// sweepKick tells the sweep goroutine that the period shrank.
	sweepKick chan struct{}

	// Owned by the poller goroutine.
	events    []event
	requeue   []*Conn // edge-triggered conns that used their budget
	resumes   []*Conn // inline handlers to go on after ErrWouldBlock (resumeLater), each with a reference
	batch     []*Conn
	inPass    bool        // a pass is running: handler runs go to ready
	ready     []*Conn     // handler runs made ready by this pass (DispatchHandoff, DispatchPool)
	readyNext int         // DispatchHandoff: the next run of ready to start
	nEvents   int         // events the current (or last) pass got
	eventNext int         // the next of them to handle
	passStart int64       // when the current pass began its wait (clock.go)
	spins     int         // WaitSpin: empty polls since the last event
	pinned    bool        // the leader is locked to its thread (pinLeader)
	unparked  bool        // the last wait parked in the runtime (see kickNetpoll)
	passing   bool        // counted in passingPollers since the last wait; leader only
	batches   []*runBatch // started batches that may hold unclaimed runs
	claimants int         // pool tasks per batch at most (GOMAXPROCS)
	busy      int         // events that make a pass busy (busyPass or busyReaders)
	nextSweep int64

	// WaitAdaptive: samples of the runnable and the running goroutines,
	// and how many pollers of the process may block in epoll_wait at
	// once.
	sched      [2]metrics.Sample
	maxBlocked int32

	// DispatchHandoff: who holds the loop (see handoff.go).
	duty     duty
	watchdog *watchdog
	leadFn   func() // p.lead, made once
}

func newPoller(id int, cfg *config, handler bool, wd *watchdog) (*poller, error) {
	p := &poller{
		id:       id,
		watchdog: wd,
		cfg:      cfg,
		busy:     busyReaders,
		done:     make(chan struct{}),
		events:   make([]event, eventBatch),
		// One task per P can keep every core busy with a batch.
		claimants: runtime.GOMAXPROCS(0),
	}
	if handler {
		p.busy = busyPass
	}
	p.runsInline = cfg.Dispatch == DispatchInline && (handler || cfg.OnConnect != nil || cfg.OnDisconnect != nil)
	p.sched[0].Name = "/sched/goroutines/runnable:goroutines"
	p.sched[1].Name = "/sched/goroutines/running:goroutines"
	p.maxBlocked = int32(runtime.GOMAXPROCS(0) - 1)
	ep, err := openPollset(cfg, &p.ctr)
	if err != nil {
		return nil, err
	}
	p.ep = ep
	if !handler {
		ep.noPin() // accept mode: no handler runs on the leader
	}
	if cfg.IdleTimeout > 0 {
		p.minIdle.Store(int64(cfg.IdleTimeout))
	}
	p.leadFn = p.lead
	go p.run()
	return p, nil
}

// wake makes the poller leave epoll_wait; cheap when a wake-up is
// already pending.
func (p *poller) wake() {
	if p.wakeFlag.CompareAndSwap(0, 1) {
		p.ep.wake()
	}
}

// runOnLoop starts c's held runner (OnConnect first) on p's loop, for a
// DispatchInline connection that another poller's loop accepted, or
// that a Dialer connected on the dialing goroutine: run there, its
// handler's waits would not know that they block a loop (onInlineLoop
// looks at c's own), and that loop, or the dial, would stall. Once the
// loop has stopped, the runner starts here.
func (p *poller) runOnLoop(c *Conn) {
	p.qmu.Lock()
	if p.flushDone {
		p.qmu.Unlock()
		c.run(0, false)
		return
	}
	p.runq = append(p.runq, c)
	p.qmu.Unlock()
	p.wake()
}

// kick asks the poller to read c again (after input was resumed).
func (p *poller) kick(c *Conn) {
	p.qmu.Lock()
	p.queue = append(p.queue, c)
	p.qmu.Unlock()
	p.wake()
}

// noteIdle lowers the idle sweep period to serve timeout d.
func (p *poller) noteIdle(d time.Duration) {
	for {
		cur := p.minIdle.Load()
		if cur != 0 && cur <= int64(d) {
			return
		}
		if p.minIdle.CompareAndSwap(cur, int64(d)) {
			if p.std {
				p.startSweep()
				select {
				case p.sweepKick <- struct{}{}:
				default:
				}
			} else {
				p.wake()
			}
			return
		}
	}
}

// noteConnIdle makes p sweep for c's idle timeout, which its owner's
// configuration sets: a dialed connection's (Dialer.Options) is not the
// group's, whose pollers would otherwise never sweep for it. c is in the
// registry, so a sweep that raises minIdle sees it (sweepIdle).
func (p *poller) noteConnIdle(c *Conn) {
	if d := c.idleTimeout(); d > 0 && (p.minIdle.Load() == 0 || int64(d) < p.minIdle.Load()) {
		p.noteIdle(d)
	}
}

// sweepPeriod is how often idle connections are looked for: a quarter
// of the smallest idle timeout, within [1ms, 1s]. A connection is thus
// closed between its idle timeout and that plus the period.
func (p *poller) sweepPeriod() time.Duration {
	d := time.Duration(p.minIdle.Load())
	if d == 0 {
		return 0
	}
	return min(max(d/4, time.Millisecond), time.Second)
}

// timeout returns how long the next wait may block in ms (-1: forever).
func (p *poller) timeout(now int64) int {
	if len(p.requeue) > 0 || len(p.resumes) > 0 {
		return 0
	}
	return minWait(p.sweepWait(now), p.rescueWait(now))
}

// sweepWait is how long the next wait may block before an idle sweep is
// due, in ms rounded up (-1: no idle timeout).
func (p *poller) sweepWait(now int64) int {
	period := p.sweepPeriod()
	if period == 0 {
		return -1
	}
	if p.nextSweep == 0 || p.nextSweep > now+int64(period) {
		// The first sweep, or a shorter period (SetIdleTimeout lowered
		// minIdle and woke the loop): the sweep scheduled with the
		// longer one may be up to a second away.
		p.nextSweep = now + int64(period)
	}
	return msUntil(p.nextSweep, now)
}

// msUntil is the epoll_wait timeout that ends at deadline (clock.go): ms
// rounded up, 0 when it has passed.
func msUntil(deadline, now int64) int {
	left := deadline - now
	if left <= 0 {
		return 0
	}
	return int((left + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}

// minWait is the shorter of two epoll_wait timeouts (-1: forever).
func minWait(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

// run is the body of the poller's first goroutine.
func (p *poller) run() { p.lead() }

// lead runs the loop for as long as the calling goroutine holds the
// poller's duty. Under DispatchHandoff the duty can pass to another
// goroutine while a handler runs (see handoff.go): lead then returns at
// once, and the new leader starts here, resuming the pass where the old
// one left it. Every other mode keeps the duty on one goroutine.
func (p *poller) lead() {
	if p.cfg.Dispatch == DispatchInline {
		p.loopG.Store(goid())
		if p.runsInline {
			inlineLoops.add(p)
			defer inlineLoops.remove(p)
		}
	}
	p.pinned = p.ep.pinLeader()
	if p.pinned {
		defer p.ep.unpinLeader()
	}
	for {
		if !p.finishPass() {
			return
		}
		if p.closing.Load() || !p.pass() {
			break
		}
	}
	p.leavePass()
	// Nobody rescues batched runs once the loop is gone: give each run
	// still unclaimed a task of its own, so that its OnDisconnect is
	// delivered even if every task of its batch is stuck.
	p.rescue(math.MaxInt64, true)
	p.stopFlushes()
	p.dropResumes() // no loop is left to send their output
	p.ep.loopDone()
	close(p.done)
}

// onLoop reports whether the caller runs on p's loop: under
// DispatchInline, a handler of the loop, which must not wait for the
// loop it runs on (onInlineLoop); another goroutine using the same
// connection meanwhile may wait. It reads the goroutine's id (goid):
// only for a wait that is about to block.
func (p *poller) onLoop() bool {
	id := p.loopG.Load()
	return id != 0 && id == goid()
}

// onInlineLoop reports whether the caller, about to wait for c's input
// or for room in c's output, runs a handler on the loop of a poller under
// DispatchInline while c's poller runs inline handlers too: c's own
// poller's loop (its handler, or another connection's handler relaying
// to c), which would wait for the loop it runs on, the only one that
// reads c and sends its output; or another poller's, whose loop would
// stop meanwhile, and which can wait for a handler of c's loop that
// waits for it in turn (two relays writing to each other's
// connections). Such a wait says ErrWouldBlock instead. A wait on a
// connection of a poller that runs no inline handler (the default
// group's dialed connections, a DispatchPool Server's) waits: that
// loop never waits for a handler, so it makes the room or reads the
// input, while ErrWouldBlock would leave the handler with nothing to
// run it again (more input and the drain of its own connection's
// output do, and a write's refusal runs it again when that
// connection drains: relay.go; a read's refusal does not).
//
// inlineRuns first: the goroutine's id costs a stack walk, and waits of
// goroutines that run no handler (net/http's, on the adapter, whose
// servers are DispatchInline for their hooks) must not pay it (the
// adapter's requests/s fell to a quarter when they did). They pay it
// only while an inline handler runs somewhere in the process.
func (c *Conn) onInlineLoop() bool {
	return c.p.runsInline && onInlineLoopOf(c.p, inlineLoops.load())
}

// inlineLoops lists the pollers whose loops run handlers inline
// (runsInline), for onInlineLoop; pollers are added and removed as
// their loops start and end.
var inlineLoops cowList[*poller]

// onInlineLoopOf reports whether the caller runs a handler on the loop
// of first (the connection's own poller, where a relay or the
// connection's own handler usually runs, looked at first) or of one of
// ps. It reads the goroutine's id only where a poller runs an inline
// handler now.
func onInlineLoopOf(first *poller, ps []*poller) bool {
	return inlineLoopOf(first, ps) != nil
}

// inlineLoopOf is onInlineLoopOf that returns the poller whose loop
// the caller is, or nil.
func inlineLoopOf(first *poller, ps []*poller) *poller {
	if len(ps) == 0 {
		return nil
	}
	var id uint64
	on := func(p *poller) bool {
		if p.cfg.Dispatch != DispatchInline || p.inlineRuns.Load() == 0 {
			return false
		}
		if id == 0 {
			id = goid()
		}
		return p.loopG.Load() == id
	}
	if first != nil && on(first) {
		return first
	}
	for _, p := range ps {
		if p != first && on(p) {
			return p
		}
	}
	return nil
}

// pass waits for events. It reports false when the epoll instance is
// unusable.
func (p *poller) pass() bool {
	start := nowNs()
	msec := p.timeout(start)
	p.leavePass()
	n, err := p.wait(msec, &p.spins)
	if countPassing.Load() {
		p.passing = true
		passingPollers.Add(1)
	}
	if err != nil {
		// Only EBADF/EINVAL are possible, i.e. a bug or the fd was
		// closed under us; waiting again would spin.
		return false
	}
	p.ctr.recordWait(n)
	// Every pass, not only one that got events: a pass of none still
	// reads the sockets of connections requeued or resumed for it.
	p.passSeq.Add(1)
	p.passStart = start
	p.nEvents, p.eventNext = n, 0
	p.inPass = true
	return true
}

// finishPass handles the events of the pass from p.eventNext on: input
// is read, output flushed, connections accepted. Under DispatchHandoff
// each event's handler run follows it at once (run to completion: the
// response goes out before the next socket is read); under
// DispatchPool the runs are collected for endPass's batches; otherwise
// they start as the input arrives. It reports false when the duty
// passed to another goroutine, which then finishes the pass.
func (p *poller) finishPass() bool {
	if !p.runReady() {
		return false
	}
	for p.eventNext < p.nEvents {
		ev := &p.events[p.eventNext]
		p.eventNext++
		p.handle(ev)
		if !p.runReady() {
			return false
		}
	}
	if p.inPass {
		if len(p.requeue) > 0 {
			p.runRequeue()
		}
		if len(p.resumes) > 0 {
			p.runResumes()
		}
		p.inPass = false
		p.passSeq.Add(1)
		if !p.runReady() {
			return false
		}
		p.endPass()
	}
	return true
}

// endPass starts DispatchPool's batches, sweeps idle connections and
// closes those that Shutdown may close.
func (p *poller) endPass() {
	if len(p.ready) > 0 || len(p.batches) > 0 {
		now := nowNs()
		p.flushReady(now)
		p.rescue(now, false)
	}
	if r := p.shutLooks.Load(); r != p.shutLooked {
		p.shutLooked = r
		p.closeIdle()
	}
	// Judge idleness as of the pass's start: every event that arrived
	// before the wait has been handled by now, so a connection whose
	// input waited while this loop was slow (a long handler inline, a
	// busy pool) is not taken for idle. When the batch was full, events
	// from before the wait may still be queued in the kernel: judge as
	// of a sweep period earlier, which events reach within a period of
	// arriving unless the poller is behind by more than that. Skipping
	// the sweep instead would let a poller that every pass fills keep
	// idle connections for ever.
	start := p.passStart
	if period := p.sweepPeriod(); period > 0 && start >= p.nextSweep {
		asOf := start
		if p.nEvents == len(p.events) {
			asOf -= int64(period)
		}
		p.sweepIdle(asOf)
		p.nextSweep = start + int64(period)
	}
}

// closeIdle closes, for Server.Shutdown, p's connections that are idle
// (shutdownIdle). It runs between passes on the goroutine that holds
// p's duty, where no input of p's connections is on its way from a
// socket into a buffer: only that goroutine moves it, during a pass. A
// look from another goroutine could find a request that the poller had
// read and not yet put into the connection's buffer in neither place,
// and close the connection with the request unanswered.
func (p *poller) closeIdle() {
	p.reg.each(func(c *Conn) {
		if c.shutdownIdle() {
			c.closeWith(ErrServerClosed)
		}
	})
}

// closeQuietIdle closes, for Server.Shutdown, p's connections that a
// look from the calling goroutine finds idle while no pass of p's runs
// (quietLook): a pass may be moving a connection's input from its
// socket into its buffer, where the look would see it in neither. The
// connections it leaves are looked at again, by the next call or by
// the poller itself at a pass's end (closeIdle). Looks at instants of
// their own find connections idle that the poller's look, always at
// the same point of a connection's exchange, may not.
func (p *poller) closeQuietIdle() {
	p.reg.each(func(c *Conn) {
		if p.quietLook(c) {
			c.closeWith(ErrServerClosed)
		}
	})
}

// quietLook reports whether c is idle (shutdownIdle) by a look that no
// pass of p's overlapped. A dial still connecting is idle whatever the
// passes do: the poller reads nothing from it before the connect
// completes, and a pass may last as long as the dial (a DispatchInline
// handler dialing through its own Server waits for the connect on the
// loop, in the pass: pollConnect).
func (p *poller) quietLook(c *Conn) bool {
	if c.flags.Load()&fConnecting != 0 {
		return true
	}
	seq := p.passSeq.Load()
	if seq&1 != 0 {
		return false
	}
	return c.shutdownIdle() && p.passSeq.Load() == seq
}

// loopEnded reports whether p's loop has ended (an unusable pollset,
// or the poller stopped).
func (p *poller) loopEnded() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait runs one wait according to the strategy.
func (p *poller) wait(msec int, spins *int) (int, error) {
	switch p.cfg.Wait {
	case WaitSpin:
		if msec != 0 && *spins < p.cfg.Spin {
			n, err := p.ep.wait(p.events, 0)
			if n == 0 && err == nil {
				*spins++
				// Spin politely: what the last pass readied runs first.
				runtime.Gosched()
				return 0, nil
			}
			*spins = 0
			return n, err
		}
		*spins = 0
	case WaitBlock:
		if msec != 0 {
			// Poll once more, then let the goroutines this pass readied
			// (handlers, blocked readers) run on this P before the thread
			// blocks in epoll_wait holding it: otherwise they wait for
			// another P to steal them or for sysmon to retake this one
			// (docs/tuning.md).
			if n, err := p.ep.wait(p.events, 0); n != 0 || err != nil {
				return n, err
			}
			runtime.Gosched()
		}
	case WaitAdaptive:
		if msec != 0 {
			// No poll first: a blocking epoll_wait returns at once when
			// events are ready, and most waits at low load find none, so
			// a poll would cost a syscall per pass for nothing.
			block, others := p.mayBlock()
			if block {
				if p.unparked {
					p.kickNetpoll()
				}
				p.ctr.parks.Add(1)
				n, err := p.ep.wait(p.events, msec)
				blockedPollers.Add(-1)
				return n, err
			}
			if others && p.pinned && p.ep.releaseForPark() {
				// Beside goroutines that want the Ps, a locked leader's
				// park and wake-up would hand a P and a thread over
				// each time (see releaseForPark).
				if testHookRelease != nil {
					testHookRelease()
				}
				n, err := p.waitRuntime(msec, false)
				p.ep.pinLeader()
				return n, err
			}
			return p.waitRuntime(msec, p.pinned)
		}
	case WaitRuntime:
		if msec != 0 && p.nEvents >= p.busy {
			// A busy pass readied several goroutines: let them run on
			// this P before polling again, so that the next poll finds
			// what they provoke instead of parking in between. What the
			// pass queued in a ring (sends) goes first: they may be what
			// those goroutines wait for.
			p.ep.submit()
			runtime.Gosched()
		}
		if msec != 0 {
			return p.waitRuntime(msec, p.pinned)
		}
	}
	if msec != 0 {
		p.ctr.parks.Add(1)
	}
	return p.ep.wait(p.events, msec)
}

// waitRuntime parks in the runtime's netpoller for up to msec ms (-1:
// no limit). pinned says that the caller parks locked to its thread.
func (p *poller) waitRuntime(msec int, pinned bool) (int, error) {
	var dl time.Time
	if msec > 0 {
		dl = time.Now().Add(time.Duration(msec) * time.Millisecond)
	}
	runtimePollers.Add(1)
	n, parked, err := p.ep.waitRuntime(p.events, dl)
	runtimePollers.Add(-1)
	if parked && pinned {
		// A goroutine locked to its thread, woken from the runtime's
		// netpoller, runs only on that thread: the thread that polled
		// the netpoller hands it its P and goes to sleep, and none
		// polls in its place until one goes idle. Pollers and
		// goroutines still parked there would wait for sysmon's poll,
		// every 10 ms (docs/scaling.md). A new goroutine makes the
		// runtime wake an idle thread, which then polls.
		go func() {}()
		if testHookKick != nil {
			testHookKick()
		}
	}
	if parked {
		p.ctr.parks.Add(1)
	}
	p.unparked = parked && !pinned
	return n, err
}

// kickNetpoll makes sure that a thread polls the runtime's netpoller
// before the poller blocks in epoll_wait holding its P, when its last
// wait parked there. The runtime's netpoller is polled by a thread that
// went idle, blocking in it, and by sysmon every 10 ms; the thread that
// woke from it with this poller ready took the P and now runs it, so
// until another thread goes idle none polls: every goroutine of the
// process waiting on a net.Conn, an os pipe or a timer, and other
// pollers parked there, would wait for sysmon (seen as 10-20 ms calls
// of an in-process client of Go's net, TestAdaptiveKeepsNetpollPolled).
// A new goroutine makes the runtime wake an idle thread for it, and
// that thread, idle again, polls. Only after a park: a poller that
// blocked before and wakes from its own epoll_wait has not taken that
// thread, and a kick on every wait would wake a thread per pass.
func (p *poller) kickNetpoll() {
	p.unparked = false
	go func() {}()
}

// testHookRelease, when set by a test, runs before each park of a
// pinned leader released from its thread (releaseForPark).
var testHookRelease func()

// testHookKick, when set by a test, runs after each kick of a pinned
// leader woken from a park in the runtime (see waitRuntime).
var testHookKick func()

// blockedPollers counts the pollers of the process blocked in
// epoll_wait under WaitAdaptive, each holding a P.
var blockedPollers atomic.Int32

// passingPollers counts the pollers of the process in a pass rather
// than in a wait, while countPassing is set (by the first uring pollset
// made with uringReleaseEnv): each has a running leader, which the
// runtime's count of running goroutines includes.
var (
	passingPollers atomic.Int32
	countPassing   atomic.Bool
)

// leavePass takes p out of passingPollers before a wait, or when the
// loop ends.
func (p *poller) leavePass() {
	if p.passing {
		p.passing = false
		passingPollers.Add(-1)
	}
}

// othersRunning reports, while passingPollers is kept, whether running
// (the runtime's count of Ps running goroutines) includes goroutines
// that are not upoll's pollers: more than this poller, about to wait
// and no longer counted in passingPollers, and the pollers in a pass.
// Runnable goroutines are left out: a poller readied from a park is one.
func (p *poller) othersRunning(running metrics.Value) bool {
	return countPassing.Load() && running.Kind() == metrics.KindUint64 &&
		int64(running.Uint64())-1 > int64(passingPollers.Load())
}

// runtimePollers counts the pollers of the process waiting parked in
// the runtime's netpoller (WaitRuntime, and WaitAdaptive when it may not
// block).
var runtimePollers atomic.Int32

// mayBlock reports whether a WaitAdaptive poller may block in
// epoll_wait, and if so counts it in blockedPollers: only while no
// other poller of the process is parked in the runtime, no other
// goroutine of the process is runnable or running, and fewer
// than GOMAXPROCS-1 pollers already block (one P always stays free for
// the rest). A runnable goroutine would wait for this P until sysmon
// takes it back. A running one is work the process does beside
// serving (or another busy poller): the goroutines it and the
// connections ready next want a P too, and a poller blocked in
// epoll_wait would keep one from them until sysmon retakes it
// (BenchmarkNeighbours measures that); the poller parks in the runtime
// instead. others reports, when passingPollers is kept, that goroutines
// other than upoll's pollers were running, whether or not that was the
// reason not to block.
func (p *poller) mayBlock() (block, others bool) {
	if runtimePollers.Load() != 0 {
		// Another poller waits for the runtime's netpoller to wake it.
		// The thread that polls it, woken with this goroutine, would
		// block here holding its P, and the runtime starts no other
		// to poll in its place: the parked poller would then wait for
		// sysmon's poll, every 10 ms (seen as 10-20 ms p99 with 8
		// pollers on 16 cores, docs/scaling.md).
		if countPassing.Load() {
			metrics.Read(p.sched[:])
			others = p.othersRunning(p.sched[1].Value)
		}
		return false, others
	}
	metrics.Read(p.sched[:])
	runnable, running := p.sched[0].Value, p.sched[1].Value
	if runnable.Kind() == metrics.KindUint64 && runnable.Uint64() != 0 {
		return false, p.othersRunning(running)
	}
	if running.Kind() == metrics.KindUint64 && running.Uint64() > 1 { // someone besides this poller
		return false, p.othersRunning(running)
	}
	for {
		b := blockedPollers.Load()
		if b >= p.maxBlocked {
			return false, false
		}
		if blockedPollers.CompareAndSwap(b, b+1) {
			return true, false
		}
	}
}

// handle routes one event.
func (p *poller) handle(ev *event) {
	switch {
	case ev.slot == tagWake:
		p.ctr.wakeups.Add(1)
		// Read the eventfd before clearing wakeFlag, never after: a
		// waker that set the flag and wrote in between would have its
		// write consumed here, epoll would drop its now-unready event,
		// and the flag would stay set with no wake-up coming to clear
		// it, so no later wake() would write again. In this order a
		// waker that finds the flag still set appended to the queue
		// before drainQueue reads it, and one that sets it afterwards
		// writes an event this read cannot consume.
		p.ep.drainWake()
		p.wakeFlag.Store(0)
		p.drainQueue()
	case ev.slot <= tagListener:
		if a := p.listener(int(tagListener - ev.slot)); a != nil {
			a.onReady()
		}
	default:
		c := p.reg.lookup(ev.slot, ev.gen)
		if c == nil {
			p.ctr.staleEvents.Add(1)
			return
		}
		if c.onEvent(ev.ready) {
			p.requeue = append(p.requeue, c)
		}
	}
}

// runRequeue gives every connection that used its edge-triggered
// budget another turn, after the other ready connections had theirs.
func (p *poller) runRequeue() {
	p.batch, p.requeue = p.requeue, p.batch[:0]
	for i, c := range p.batch {
		// evRDHup: read to EAGAIN, a hang-up may have come with the
		// event that used the budget (see Conn.shortDrains).
		if c.onEvent(evIn | evRDHup) {
			p.requeue = append(p.requeue, c)
		}
		p.batch[i] = nil
	}
	p.batch = p.batch[:0]
}

func (p *poller) drainQueue() {
	p.qmu.Lock()
	q, fq, rq := p.queue, p.flushq, p.runq
	p.queue, p.flushq, p.runq = nil, p.flushSpare[:0], nil
	p.qmu.Unlock()
	for _, c := range rq {
		c.run(0, false)
	}
	p.sendQueued(fq)
	p.flushSpare = fq[:0]
	for _, c := range q {
		// evRDHup: as in runRequeue; the hang-up may have come while
		// input was paused.
		if c.onEvent(evIn | evRDHup) {
			p.requeue = append(p.requeue, c)
		}
	}
}

// sweepIdle closes connections idle for longer than their timeout.
// It also lets the sweep period rise again once the connection with the
// smallest idle timeout is gone (0: none left, no sweep until noteIdle).
// A noteIdle during the sweep changed minIdle from old: the CAS then
// fails and the lower value stands.
func (p *poller) sweepIdle(now int64) {
	old := p.minIdle.Load()
	var low int64
	p.reg.each(func(c *Conn) {
		c.checkIdle(now)
		if d := int64(c.idleTimeout()); d > 0 && (low == 0 || d < low) && !c.fdst.closed() {
			low = d
		}
	})
	if old != 0 && (low == 0 || low > old) {
		p.minIdle.CompareAndSwap(old, low)
	}
}

func (p *poller) listener(i int) *acceptor {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if i < 0 || i >= len(p.listeners) {
		return nil
	}
	return p.listeners[i]
}

// addListener registers a listening socket (level-triggered). a holds a
// reference to the descriptor until a.remove, so that its registration
// is deleted before the descriptor closes even when Listener.Close comes
// first: an io_uring poll request would otherwise keep the socket
// listening, and its number registered, until the poller closed.
func (p *poller) addListener(a *acceptor) error {
	if !a.lfd.st.incref() {
		return errClosed
	}
	p.lmu.Lock()
	a.tag = int32(tagListener - len(p.listeners))
	p.listeners = append(p.listeners, a)
	p.lmu.Unlock()
	gen := int32(0)
	if !a.lfd.own {
		gen = listenShared
	}
	if err := p.ep.add(a.lfd.fd, evIn, a.tag, gen); err != nil {
		p.removeListener(a)
		a.lfd.release()
		return err
	}
	return nil
}

// removeListener forgets a; its slot index is never reused, so a stale
// event cannot reach another listener.
func (p *poller) removeListener(a *acceptor) {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	if i := int(tagListener - a.tag); i >= 0 && i < len(p.listeners) && p.listeners[i] == a {
		p.listeners[i] = nil
	}
}

// register adds c to the registry and to epoll. A connection marked
// fTotalDue (an accepted one) is counted in TotalConns once registered;
// a dial counts its own connection once it has one (DialContext).
func (p *poller) register(c *Conn) error {
	idx, gen, err := p.reg.add(c)
	if err != nil {
		return err
	}
	c.slot = idx
	p.noteConnIdle(c)
	// The first event can be handled on the conn's poller before
	// EPOLL_CTL_ADD returns here. So fRegistered is set before, so that
	// the event's re-arm is not skipped as "not registered", and that
	// event counts the connection in TotalConns if the return here has
	// not yet (countTotal): a peer that has its answer finds it in Stats
	// (ExampleServer_Stats once read TotalConns 0 after its echo, under
	// CI's load), and a registration that fails is never counted.
	p.ctr.liveConns.Add(1)
	c.emu.Lock()
	c.flags.Or(fRegistered)
	want := c.wantEvents()
	c.armed.Store(want)
	err = p.ep.add(int(c.fd), want, idx, gen)
	if err != nil {
		c.flags.And(^uint32(fRegistered | fTotalDue))
	}
	c.unlockEmu()
	if err != nil {
		p.ctr.liveConns.Add(-1)
		p.reg.remove(idx)
		return err
	}
	c.countTotal()
	return nil
}

// fTotalDue marks a connection that TotalConns is to count once it is
// registered: set by the accepting path before the Conn is shared,
// cleared by the first of register's return and the connection's first
// event (countTotal), or by a registration that fails.
const fTotalDue = fUnix << 17

// countTotal counts c in TotalConns if it is due to be and nobody has
// yet.
func (c *Conn) countTotal() {
	if c.flags.And(^uint32(fTotalDue))&fTotalDue != 0 {
		c.p.ctr.totalConns.Add(1)
	}
}

// close stops the loop and releases the epoll instance. Connections
// must have been closed by the owner first.
func (p *poller) close() {
	if p.std {
		p.closing.Store(true)
		return
	}
	if p.closing.Swap(true) {
		<-p.done
		return
	}
	p.ep.wake()
	<-p.done
	p.ep.close()
}

// busyPass is how many events make a pass busy enough for WaitRuntime to
// yield before it polls again, so that the handler goroutines the pass
// readied run before the poller takes the P back. Yielding after every
// pass of two or more events costs less CPU per message than never
// yielding (docs/tuning.md).
const busyPass = 2

// busyReaders is busyPass for pollers of a Server without a handler,
// whose passes wake goroutines blocked in Read (http.Server on the
// nethttp adapter; the dialer's pollers). There a yield after a small
// pass costs latency: the poller readies those readers on its own P
// anyway and parks right after when its next poll is empty, while a
// yield sends it to the back of the global run queue. Busy passes (about
// 1,000 connections) yield; small loads seldom do. The threshold is the
// one that gave http.Server the lowest tail latency (docs/tuning.md).
const busyReaders = 32
