package netpoll

import (
	"fmt"
)

// The handler runner of a connection. hstate is its state word:
//
//	hRunning  a runner is scheduled or running; nobody else may start one
//	hAgain    input arrived while it ran: run the handler once more
//	hDisc     the connection closed: run OnDisconnect, then stop for good
//
//	idle ──input──▶ running ──input──▶ running|again ──(loop)──▶ running
//	running ──handler done, no again──▶ idle
//	any ──close──▶ …|disc ──runner──▶ OnDisconnect, stays running|disc
//
// One runner at a time gives "handlers of one connection never overlap
// and see input in order" without a queue: repeated input events while
// a handler runs coalesce into one more run. The word costs 4 bytes per
// connection and no allocation while idle (a gopool.Serial would cost a
// struct and a task queue per connection).
const (
	hRunning = 1 << iota
	hAgain
	hDisc
)

// schedule starts a runner for new input, or marks the running one to
// go again.
func (c *Conn) schedule() {
	if c.startRunner() {
		c.dispatch()
	}
}

// startRunner reports whether the caller must start a runner for new
// input (and has marked one running); when a runner is already
// scheduled it marks it to go again and reports false.
func (c *Conn) startRunner() bool {
	for {
		s := c.hstate.Load()
		if s&hRunning == 0 {
			if c.hstate.CompareAndSwap(s, s|hRunning) {
				return true
			}
			continue
		}
		if s&(hAgain|hDisc) != 0 || c.hstate.CompareAndSwap(s, s|hAgain) {
			return false
		}
	}
}

// notifyDisconnect makes the runner deliver OnDisconnect once, after
// the last handler has returned.
func (c *Conn) notifyDisconnect() {
	if c.owner.handler == nil && c.owner.cfg.OnDisconnect == nil {
		return
	}
	for {
		s := c.hstate.Load()
		if s&hDisc != 0 {
			return
		}
		if s&hRunning != 0 {
			if c.hstate.CompareAndSwap(s, s|hDisc) {
				c.hookDue()
				return
			}
			continue
		}
		if c.hstate.CompareAndSwap(s, s|hDisc|hRunning) {
			c.hookDue()
			c.dispatch()
			return
		}
	}
}

// dispatch runs the runner inline (DispatchInline) or on the pool, one
// pool task for this connection alone (see runBatch for the shared
// tasks of DispatchPool's input runs, and runReady for DispatchHandoff's
// input runs on the poller). It only tries the pool: a run that finds
// every worker busy goes to the poller's backlog, which applies the
// pool's policy on a goroutine of its own (see backlog), since the
// poller must neither wait for a worker nor run a handler in its place.
func (c *Conn) dispatch() {
	if c.owner.cfg.Dispatch == DispatchInline {
		c.run(0, false)
		return
	}
	c.dispatchAt(nowNs())
}

// dispatchAt submits the runner to the pool; t is when the run was
// queued (clock.go), for the handler queue wait.
func (c *Conn) dispatchAt(t int64) {
	if err := c.owner.cfg.Pool.TryGo(func() { c.run(t, false) }); err != nil {
		c.p.backlog.push(c, t)
	}
}

// run is the runner: OnConnect first (once), then the handler while
// input keeps arriving, then OnDisconnect after close. queuedAt is the
// submit time (0 inline). leading says that the caller holds c's
// poller's duty (DispatchHandoff's runReady); run then reports whether
// it still does when it returns: the duty may pass to another goroutine
// while a handler runs, and this one then finishes c's run as a plain
// runner. A leading run comes with its onEvent's reference, and settles
// the input that onEvent left unaccounted (see onEvent).
func (c *Conn) run(queuedAt int64, leading bool) bool {
	if leading {
		return c.runRef(queuedAt, refPassed)
	}
	return c.runRef(queuedAt, refTake)
}

// runRef says which reference to c a run works under.
type runRef uint8

const (
	refTake   runRef = iota // its own, taken unless c is closed
	refPassed               // the caller's, passed on: the run drops it (a leading run: runReady's)
	refLent                 // the caller's, which the caller keeps and drops
)

// runLent is run under a reference that the caller holds through the
// run and keeps (BackendStd's handler loop): two locked instructions
// fewer per run than a reference of the run's own.
func (c *Conn) runLent() { c.runRef(0, refLent) }

// runRef is run under the reference ref says; only runReady's runs,
// the leading ones, come with a reference passed on.
func (c *Conn) runRef(queuedAt int64, ref runRef) bool {
	leading := ref == refPassed
	ctr := &c.p.ctr
	if queuedAt != 0 {
		ctr.handlerWaitNs.Add(uint64(nowNs() - queuedAt))
	}
	held := ref != refTake || c.incref()
	drop := held && ref != refLent // the run drops its reference when it ends
	settle := ref == refPassed
	inline := c.owner.cfg.Dispatch == DispatchInline
	// OnConnect runs even for a connection closed before its first run
	// (its calls then fail as on any closed Conn): OnDisconnect, which
	// follows, always pairs with it.
	if fl := c.flags.Load(); fl&fConnectHook != 0 {
		c.flags.And(^uint32(fConnectHook | fHookAhead))
		if fl&fHookAhead != 0 {
			c.owner.gate.hookStarted()
		}
		if f := c.owner.cfg.OnConnect; f != nil {
			var err error
			switch {
			case leading:
				d := c.p.enterHandler(c)
				err = c.callHook(f)
				leading = c.p.leaveHandler(d)
			case inline:
				// On the poller, as a handler: its waits say
				// ErrWouldBlock rather than wait for the loop.
				c.p.inlineRuns.Add(1)
				err = c.callHook(f)
				c.p.inlineRuns.Add(-1)
				if c.p.blockedOn.Load() != nil && c.p.onLoop() {
					c.p.relayBlocked(nil) // a hook's: dropped
				}
			default:
				err = c.callHook(f)
			}
			if err != nil {
				c.closeWith(err)
			}
		}
	}
	for {
		s := c.hstate.Load()
		if s&hDisc != 0 {
			break
		}
		// s == hRunning: nothing to clear, and a CAS that changes
		// nothing would still cost a locked instruction per run.
		if s != hRunning && !c.hstate.CompareAndSwap(s, hRunning) {
			continue
		}
		if held && c.owner.handler != nil && !c.fdst.closed() {
			// final: no input can arrive during this run. Bytes are
			// published before EOF is flagged, so with the flag seen
			// first, before counts every byte that will ever come.
			final := c.flags.Load()&fPeerEOF != 0
			before := c.in.Len()
			relayWait := false // a write to another connection refused this run (relay.go)
			if before > 0 {
				ctr.handlerRuns.Add(1)
				var err error
				switch {
				case leading:
					d := c.p.enterHandler(c)
					err = c.callHandler()
					leading = c.p.leaveHandler(d)
				case inline:
					if c.flags.Load()&fOutBlocked != 0 {
						// This run answers for what the last one left;
						// the relays c refused try again (and are
						// listed again if it refuses them again).
						if c.flags.And(^uint32(fOutBlocked))&fOutBlocked != 0 {
							c.wakeRelays() // whatever flag it cleared
						}
					}
					c.p.inlineRuns.Add(1)
					err = c.callHandler()
					c.p.inlineRuns.Add(-1)
					if c.p.blockedOn.Load() != nil && c.p.onLoop() {
						relayWait = c.p.relayBlocked(c)
					}
				default:
					err = c.callHandler()
				}
				if err != nil {
					c.closeWith(err)
				}
				if c.in.Len() > 0 {
					if c.flags.Load()&fLeftInput == 0 {
						c.flags.Or(fLeftInput)
					}
				} else if c.flags.Load()&fLeftInput != 0 {
					c.flags.And(^uint32(fLeftInput))
				}
			}
			if f := c.flags.Load(); f&fPeerEOF != 0 && !c.fdst.closed() {
				// The peer is done sending: once the handler has
				// consumed what it can, close (queued output is still
				// sent, see Close). An unchanged length means no
				// progress only if the input was final when the run
				// began: otherwise bytes that arrived during the run
				// (with the EOF) may have replaced as many consumed
				// ones, and the handler must see them.
				switch after := c.in.Len(); {
				case f&fOutBlocked != 0 || relayWait:
					// An inline handler stopped for room, not for want
					// of input: resumeBlocked (or, for another
					// connection's room, wakeRelays) runs it again
					// once there is room (after sending what its Flush
					// kept), and that run closes.
				case after == 0 || final && after == before:
					c.closeWith(nil)
				default:
					c.hstate.Or(hAgain) // progress, or new input: go on
				}
			}
		}
		if held {
			// The run was activity: the idle clock starts again when
			// it ends, not at the last I/O before a long handler.
			c.touch()
		}
		if settle {
			// Once per run, before a new input's onEvent may count
			// on it: unchanged, the common case, costs no write.
			settle = false
			c.accountIn()
		}
		if c.hstate.CompareAndSwap(hRunning, 0) {
			if held {
				if c.owner.cfg.Trigger == OneShot {
					c.updateEvents()
				}
				if c.flags.Load()&(fBudgetPaused|fLeftInput) == fBudgetPaused|fLeftInput {
					// Paused by the budget while its handler ran, it now
					// waits for the rest of a message, which the budget
					// does not limit (budgeted): resume it now, not at
					// the next sweep. A pause decided after this look
					// sees hRunning cleared (pause looks again).
					c.resumeInput()
				}
				if drop {
					c.decref()
				}
			}
			return leading
		}
	}
	if held {
		if settle {
			c.accountIn() // before the decref: a destroy after it takes the count out
		}
		if drop {
			c.decref()
		}
	}
	if f := c.owner.cfg.OnDisconnect; f != nil {
		if leading {
			// A hook, like a handler, may block: watched the same way.
			d := c.p.enterHandler(c)
			c.callDisconnect(f)
			leading = c.p.leaveHandler(d)
		} else if inline {
			// On the loop where the loop closed c, as a handler: its
			// waits say ErrWouldBlock rather than wait for the loop.
			c.p.inlineRuns.Add(1)
			c.callDisconnect(f)
			c.p.inlineRuns.Add(-1)
			if c.p.blockedOn.Load() != nil && c.p.onLoop() {
				c.p.relayBlocked(nil) // a hook's: dropped
			}
		} else {
			c.callDisconnect(f)
		}
		c.owner.hooks.Add(-1)
	}
	return leading
}

// hookDue counts an OnDisconnect call that the runner will make (see
// owner.hooks); the runner counts it off once the hook returned.
func (c *Conn) hookDue() {
	if c.owner.cfg.OnDisconnect != nil {
		c.owner.hooks.Add(1)
	}
}

// callHandler runs the handler; a panic becomes an error wrapping
// ErrHandlerPanic (and closes only this connection).
func (c *Conn) callHandler() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrHandlerPanic, r)
		}
	}()
	return c.owner.handler(c)
}

func (c *Conn) callHook(f func(*Conn)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: OnConnect: %v", ErrHandlerPanic, r)
		}
	}()
	f(c)
	return nil
}

func (c *Conn) callDisconnect(f func(*Conn, error)) {
	defer func() { recover() }()
	f(c, c.closeReason())
}
