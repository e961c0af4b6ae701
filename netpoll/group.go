package netpoll

import (
	"sync"
	"sync/atomic"
)

// group is a set of pollers with what the connections registered on
// them share: their owner (configuration, handler, buffer budget), the
// choice of poller for each new connection, admission against closing,
// the sweeps of Shutdown and Close, the counters and the stop. A Server
// is a group that also accepts; the default groups of dialed connections
// are groups alone.
type group struct {
	owner    owner
	pollers  []*poller
	watchdog *watchdog // DispatchHandoff with a handler; nil otherwise
	// rr counts round-robin picks; unsigned, and wide enough never to
	// wrap, so that an index from it is never negative (an int of it is
	// negative from 2^31 on where int has 32 bits) and the turn does not
	// skip at a wrap.
	rr atomic.Uint64

	// regMu orders registrations against closing: admit checks closing
	// and registers under the read lock, shut sets closing under the
	// write lock, so a connection is either refused or visible to the
	// sweeps of Shutdown and Close.
	regMu   sync.RWMutex
	closing atomic.Bool
}

// start starts the group's pollers for h (nil: accept mode) under cfg,
// as built (and resolved) by buildConfig.
func (g *group) start(h Handler, cfg config) error {
	g.owner.cfg = cfg
	g.owner.handler = h
	if cfg.Backend == BackendStd {
		for i := range stdShards() {
			g.pollers = append(g.pollers, newStdPoller(i, &g.owner.cfg))
		}
		g.owner.budget = newBudget(cfg.BufferBudget, g.pollers)
		return nil
	}
	if h != nil && cfg.Dispatch == DispatchHandoff {
		g.watchdog = newWatchdog()
	}
	for i := range g.owner.cfg.Pollers {
		p, err := newPoller(i, &g.owner.cfg, h != nil, g.watchdog)
		if err != nil {
			for _, p := range g.pollers {
				p.close()
			}
			return err
		}
		g.pollers = append(g.pollers, p)
	}
	g.owner.budget = newBudget(cfg.BufferBudget, g.pollers)
	if g.watchdog != nil {
		g.watchdog.start(g.pollers)
		handoffGroups.add(g)
	}
	return nil
}

// newGroup builds the configuration of opts and starts a group.
func newGroup(h Handler, opts ...Option) (*group, error) {
	cfg, err := buildConfig(opts, h != nil)
	if err != nil {
		return nil, err
	}
	g := new(group)
	if err := g.start(h, cfg); err != nil {
		return nil, err
	}
	return g, nil
}

// admit runs register (which adds a connection to a poller) unless the
// group is closing, and then reports ErrServerClosed.
func (g *group) admit(register func() error) error {
	g.regMu.RLock()
	defer g.regMu.RUnlock()
	if g.closing.Load() {
		return ErrServerClosed
	}
	return register()
}

// shut refuses every later admission.
func (g *group) shut() {
	g.regMu.Lock()
	g.closing.Store(true)
	g.regMu.Unlock()
}

// pick chooses the poller for a new connection.
func (g *group) pick(a *acceptor) *poller {
	if a != nil && g.owner.cfg.ReusePort && len(a.ln.fds) > 1 {
		return a.p // the kernel already balanced across sockets
	}
	if g.owner.cfg.Balance == LeastConnections {
		best := g.pollers[0]
		for _, p := range g.pollers[1:] {
			if p.ctr.liveConns.Load() < best.ctr.liveConns.Load() {
				best = p
			}
		}
		return best
	}
	return g.pollers[g.rr.Add(1)%uint64(len(g.pollers))]
}

// live returns the number of open connections.
func (g *group) live() int64 {
	var n int64
	for _, p := range g.pollers {
		n += p.ctr.liveConns.Load()
	}
	return n
}

// stats returns the group's counters, summed over its pollers.
func (g *group) stats() Stats {
	var st Stats
	for _, p := range g.pollers {
		ps := p.ctr.snapshot()
		if p.ep != nil {
			p.ep.ringStats(&ps)
		}
		st.PollerStats.add(ps)
		if !p.std {
			st.PerPoller = append(st.PerPoller, ps)
		}
	}
	if g.owner.cfg.Backend == BackendStd {
		// BackendStd's pollers are shards of its counters, not
		// pollers: they report as one.
		st.PerPoller = []PollerStats{st.PollerStats}
	}
	return st
}

// stopPollers stops the pollers and returns once they have stopped,
// unless the caller runs on the loop of one of them (a DispatchInline
// handler or OnConnect hook that closes its Server): that loop ends
// only once the caller returns, and a wait for it, or for another
// poller whose loop waits the same way for this one, would never end.
// So too where the caller runs a handler on the loop of another
// Server's poller (onInlineLoopOf): one of g's loops may be inside a
// handler closing that Server in turn. The pollers are then stopped on
// a goroutine of their own.
func (g *group) stopPollers() {
	if g.loopOf() != nil || onInlineLoopOf(nil, inlineLoops.load()) {
		go g.stop()
		return
	}
	g.stop()
}

// loopOf returns the poller of g on whose loop the caller runs (see
// poller.onLoop), or nil. It reads the goroutine's id only where one of
// g's pollers has such a loop (DispatchInline).
func (g *group) loopOf() *poller {
	var id uint64
	for _, p := range g.pollers {
		if l := p.loopG.Load(); l != 0 {
			if id == 0 {
				id = goid()
			}
			if l == id {
				return p
			}
		}
	}
	return nil
}

// pickDial chooses the poller of a dialed connection: the caller's own
// where it runs on the loop of one of g's pollers (a DispatchInline
// handler dialing through its own Server), else as pick does. Only a
// poller's loop sees a connect complete, and the handler's loop is busy
// with the handler: a connection put on another poller would make the
// handler wait for that poller's loop, whose own handler may be waiting
// the same way for this one, and neither would ever see its connect
// complete. On its own poller the dial waits for the socket itself
// (pollConnect).
func (g *group) pickDial() *poller {
	if p := g.loopOf(); p != nil {
		return p
	}
	return g.pick(nil)
}

// stop stops the pollers and returns once they have stopped.
func (g *group) stop() {
	if g.watchdog != nil {
		handoffGroups.remove(g)
	}
	for _, p := range g.pollers {
		p.close()
	}
	// After the pollers: one stopping behind a blocked handler needs the
	// watchdog to pass its duty to a goroutine that sees the close.
	if g.watchdog != nil {
		g.watchdog.close()
	}
}

// handoffGroups lists the live groups whose handlers run on their
// pollers' leaders (those with a watchdog), for yieldHandlers. A dial
// reads it with one load and no lock; groups start and stop far more
// rarely than dials wait, so each change copies the list.
var handoffGroups cowList[*group]

// yieldHandlers passes on the duty of every poller inside a handler, in
// every group listed in handoffGroups: called by a dial about to wait
// for a name lookup or its connect, whose caller may be such a handler,
// whatever group it dials through (its own server's, the default
// Dialer's, another Server's, a BackendStd group's). A dial does not know which handler, if any, calls it:
// telling the caller by its goroutine id would cost a goid read (about
// 2 µs) at every hand-off, and a list of the pollers inside a handler
// an update per message. So a dial from any goroutine that waits while
// a handler runs on a leader hands that poller on: one hand-off, as the
// watchdog would make one to two ticks later were the caller that
// handler, and at the price of a goroutine start where it was not; a
// connect's wait costs more.
func yieldHandlers() {
	for _, g := range handoffGroups.load() {
		for _, p := range g.pollers {
			if d := p.duty.word.Load(); d&1 != 0 {
				p.takeDuty(d)
			}
		}
	}
}
