package netpoll

import (
	"sync"
	"sync/atomic"
)

// acceptGate decides whether a Server's listeners accept: not while
// PauseAccept holds them, nor while MaxConns connections are open, nor
// while hooksAhead accepted connections wait for their OnConnect. A
// connection that is not accepted waits in the kernel's listen backlog,
// as it would for a program that does not call Accept: the Server reads
// nothing of it and holds nothing for it.
//
// held counts the connections the Server holds (with a limit only):
// from the place an acceptor reserves before each accept, so that
// pollers accepting at once never pass the limit together, to the
// connection's destruction (or its release when the accept found none,
// or the connection was refused). The rules:
//
//   - an acceptor that finds the gate shut disarms its listener, lists
//     itself in waiting, then looks again: an opening between its look
//     and its listing is not lost;
//   - whoever opens the gate (a connection gone below the limit, a hook
//     started below hooksAhead, ResumeAccept) re-arms every listed
//     acceptor and wakes BackendStd's accept loops (open), under mu;
//   - a re-armed listener that finds the gate shut again lists itself
//     again.
//
// The re-arm runs on the goroutine that opened the gate, often one that
// dropped a connection's last reference: it takes the pollset's lock
// (mod), which no connection's destruction may run under.
type acceptGate struct {
	max    int64 // Config.MaxConns; 0: no limit
	held   atomic.Int64
	paused atomic.Uint32 // pauseByUser | pauseByOwner: PauseAccept, HoldAccept

	// ahead counts accepted connections whose OnConnect has not
	// started (fHookAhead).
	ahead atomic.Int64

	mu      sync.Mutex
	waiting []*acceptor
	open    chan struct{} // BackendStd's loops wait for it; closed when the gate opens
}

// fHeld marks a connection that holds a place of its Server's MaxConns:
// set by the accepting path before the Conn is shared (only under a
// limit), never cleared; destroy gives the place back. Connections that
// a Dialer dials for a Server hold none.
const fHeld = fUnix << 11

// fHookAhead marks an accepted connection whose OnConnect hook has not
// started: set by serveConn or serveStd before the Conn is shared,
// cleared by the run that calls the hook, which then takes it off the
// gate's ahead count (hookStarted).
const fHookAhead = fUnix << 15

// hooksAhead bounds how many accepted connections a Server's listeners
// leave waiting for their OnConnect to start. A hook runs elsewhere
// than the accept: on the pool, on the loop of another poller (inline
// dispatch, a connection that another poller serves), or under
// BackendStd on the connection's own goroutine. Without a bound an
// acceptor, or an accept loop that the scheduler favours, accepts a
// burst whole while those are busy, before the hooks have run: a
// HoldAccept that a hook calls (the nethttp adapter's, when its queue
// fills) would then act a burst late. A hook that has started and
// blocks does not count: accepting waits only for hooks to start.
const hooksAhead = 32

// hookAccepted counts a connection whose OnConnect is now due.
func (g *acceptGate) hookAccepted() { g.ahead.Add(1) }

// hookStarted takes a connection off the ahead count once its
// OnConnect runs, and opens the gate when the count falls below the
// bound and nothing else holds it shut. The count is lowered before
// the gate is looked at: a waiter that took its channel (openCh) or
// listed itself before the opening is woken by it, and one that does
// so after sees the lowered count.
func (g *acceptGate) hookStarted() {
	if g.ahead.Add(-1) == hooksAhead-1 && !g.shut() {
		g.opened()
	}
}

// hooksBehind reports whether hooksAhead accepted connections wait for
// their OnConnect to start.
func (g *acceptGate) hooksBehind() bool { return g.ahead.Load() >= hooksAhead }

// The two pauses of a gate's paused word, each set and cleared by its
// own pair of calls: the gate stays shut while either is set.
const (
	pauseByUser  = 1 << iota // PauseAccept
	pauseByOwner             // HoldAccept
)

// isPaused reports whether PauseAccept or HoldAccept holds the gate.
func (g *acceptGate) isPaused() bool { return g.paused.Load() != 0 }

// pause sets bit in paused and reports whether no pause was in force
// before.
func (g *acceptGate) pause(bit uint32) bool { return g.paused.Or(bit) == 0 }

// unpause clears bit in paused and reports whether that lifted the last
// pause.
func (g *acceptGate) unpause(bit uint32) bool { return g.paused.And(^bit) == bit }

// shut reports whether the gate is shut now.
func (g *acceptGate) shut() bool {
	return g.isPaused() || g.hooksBehind() || g.max > 0 && g.held.Load() >= g.max
}

// reserve takes a place for a connection about to be accepted, and
// reports false, taking none, when the gate is shut.
func (g *acceptGate) reserve() bool {
	if g.isPaused() || g.hooksBehind() {
		return false
	}
	if g.max == 0 {
		return true
	}
	// Compare and swap, not add then undo: held never reads above max,
	// so what it reads is a count of connections (TestMaxConns samples
	// it), and a refused reserve does not pass through a release.
	for h := g.held.Load(); h < g.max; h = g.held.Load() {
		if g.held.CompareAndSwap(h, h+1) {
			return true
		}
	}
	return false
}

// release gives back a place that reserve took: the accept found no
// connection, the connection was refused, or it was destroyed.
func (g *acceptGate) release() {
	if g.max == 0 {
		return
	}
	if g.held.Add(-1) == g.max-1 {
		g.opened()
	}
}

// opened re-arms the waiting acceptors and wakes the waiting loops.
func (g *acceptGate) opened() {
	g.mu.Lock()
	ws := g.waiting
	g.waiting = nil
	if g.open != nil {
		close(g.open)
		g.open = nil
	}
	g.mu.Unlock()
	for _, a := range ws {
		a.arm()
	}
}

// wait disarms a's listener until the gate opens. Poller goroutine.
func (g *acceptGate) wait(a *acceptor) {
	a.p.ctr.acceptPauses.Add(1)
	a.p.ep.mod(a.lfd.fd, 0, a.tag, 0)
	g.mu.Lock()
	g.waiting = append(g.waiting, a)
	g.mu.Unlock()
	if !g.shut() {
		g.opened()
	}
}

// openCh returns a channel closed when the gate next opens (BackendStd's
// accept loops wait for it); the caller looks at the gate again after
// taking it.
func (g *acceptGate) openCh() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = make(chan struct{})
	}
	return g.open
}

// PauseAccept stops s's listeners from accepting until ResumeAccept.
// Connections that arrive meanwhile wait in the kernel's listen backlog,
// where s reads nothing of them (once the backlog is full the kernel
// ignores further connection attempts, which their clients retry); Serve
// goes on, and the connections already accepted are served as before. An
// accept under way when PauseAccept is called may still complete. Under
// BackendStd an Accept blocked for the next connection is ended, so that
// the connection waits in the backlog as on the native backends; one
// that a connection reaches before its goroutine runs again takes it
// (accepted, it is served once accepting resumes). An OnConnect hook
// may run elsewhere than the accept (on the pool, on the loop of
// another poller, under BackendStd on the connection's goroutine); the
// listeners accept at most 32 connections ahead of the hooks that have
// started, so a pause that a hook calls takes effect within that many
// connections. With inline dispatch and one poller, each hook runs
// before the next accept.
func (s *Server) PauseAccept() { s.pauseAccept(pauseByUser) }

// ResumeAccept lets s's listeners accept again after PauseAccept; those
// that MaxConns holds go on waiting for a connection to close, and none
// accepts while a HoldAccept is in force.
func (s *Server) ResumeAccept() { s.resumeAccept(pauseByUser) }

// HoldAccept stops s's listeners from accepting, as PauseAccept does,
// under a pause of its own: for code that owns s and pauses it for
// reasons of its own (the nethttp adapter, while its accept queue is
// full), beside an application that calls PauseAccept and ResumeAccept.
// Neither pair undoes the other's pause: s accepts only when neither is
// in force. ReleaseAccept ends it. Like PauseAccept, it does not nest:
// one ReleaseAccept ends any number of HoldAccepts.
func (s *Server) HoldAccept() { s.pauseAccept(pauseByOwner) }

// ReleaseAccept ends a HoldAccept: s's listeners accept again unless
// PauseAccept or MaxConns holds them.
func (s *Server) ReleaseAccept() { s.resumeAccept(pauseByOwner) }

func (s *Server) pauseAccept(bit uint32) {
	if s.gate.pause(bit) && s.owner.cfg.Backend == BackendStd {
		s.stdInterruptAccepts()
	}
}

func (s *Server) resumeAccept(bit uint32) {
	if s.gate.unpause(bit) {
		// Every waiter looks again, even with MaxConns reached: a
		// connection that BackendStd's Accept returned during the pause
		// holds its place already and is served now, and a listener
		// still at the limit lists itself again.
		s.gate.opened()
	}
}
