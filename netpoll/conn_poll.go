package netpoll

import (
	"errors"
	"os"
	"sync/atomic"
)

// maxVecs bounds the buffers of one read or write call (the iovecs of a
// readv/writev): 8 iovecs fit on the stack, so the data path stays free
// of allocations; IOV_MAX (1024) is far above it.
const maxVecs = 8

// Adaptive readv size: starts small so idle-ish connections take small
// pool buffers, doubles while reads fill the booking.
const (
	minReadSize = 4 << 10
	maxReadSize = 64 << 10
)

// onEvent handles epoll events of c on the poller goroutine and reports
// whether c must be given another turn (edge-triggered budget used).
//
// It handles them under a reference of its own. When the input makes
// c's handler run later in this pass, on the leader (DispatchHandoff's
// p.ready), the reference goes with c to that run (run with leading).
// When that run is the next, as it is for each event of a pass (the
// leader runs the handler before it reads the next socket), the
// accounting of what the last read added goes with it too: a handler
// that consumes its input, the common case, then costs the budget's
// shared counters nothing, as it costs them nothing under
// DispatchInline, whose run comes before the accounting. The run
// settles the input when it ends, and a hand-off while its handler
// blocks settles it at once (takeDuty). Connections queued behind it
// (requeued, or resumed from the wake-up queue, which are read in a
// row) are accounted here, so the bytes the budget does not see are
// at most one read per poller.
func (c *Conn) onEvent(ev uint32) (requeue bool) {
	if !c.incref() {
		if c.flags.Load()&fLinger != 0 && c.fdst.increfClosed() {
			// Before the linger's own mask update: under one-shot
			// its EPOLLOUT is armed again only if the registration
			// is known to be disarmed (else a lingering close with
			// more output than the socket takes stalled until its
			// timer, and the rest was dropped).
			c.disarmed(c.flags.Load(), ev)
			c.lingerEvent(ev)
			c.decref()
		}
		return false
	}
	requeue, passed := c.onEventHeld(ev)
	if p := c.p; !passed || len(p.ready)-p.readyNext > 1 {
		c.accountIn() // c's run, if passed, is not the next
	}
	if !passed {
		c.decref()
	}
	return requeue
}

// onEventHeld is onEvent under its reference. It reports whether the
// reference and the input's accounting passed to a run in p.ready.
func (c *Conn) onEventHeld(ev uint32) (requeue, passed bool) {
	trig := c.owner.cfg.Trigger
	f := c.flags.Load()
	if f&fTotalDue != 0 {
		c.countTotal() // before register's return (see there)
	}
	c.disarmed(f, ev)
	if f&fConnecting != 0 {
		if ev&(evOut|evErr|evHup) != 0 {
			// Take the outcome here: a later read would consume
			// SO_ERROR before the dialer looks at it. A dial that
			// polls the socket itself (pollConnect) may have taken it.
			if c.takeConnect() {
				notify(&c.wwait)
			}
		}
		c.updateEvents()
		return false, false
	}
	input := false
	if ev&(evIn|evPri|evRDHup|evHup|evErr) != 0 && f&(fPeerEOF|fBroken) == 0 {
		n, more, eof, err := c.fill(trig, ev)
		if err != nil {
			c.broke(err)
		}
		input = n > 0 || eof || err != nil
		requeue = more
	}
	if ev&(evOut|evErr|evHup) != 0 {
		c.markOutFull(false) // before the look at out (see fOutFull)
		switch {
		case c.out.Len() > 0:
			c.pollFlush()
		case c.flags.Load()&fRoomWait != 0:
			// Room for ReadFrom's sendfile or splice, which the writer
			// takes itself. Level-triggered and one-shot stop asking
			// for it until the writer asks again (roomWait.wait): the
			// room stays until the writer runs, and a registration
			// that asked on would report it on every wait meanwhile,
			// a loop that under GOMAXPROCS=1 holds the P the writer
			// needs. Edge-triggered reports it once anyway.
			if trig != EdgeTriggered {
				c.flags.And(^uint32(fRoomWait))
			}
			notify(&c.wwait)
		}
	}
	if ev&evErr != 0 && c.flags.Load()&fBroken == 0 {
		if err := c.socketError(); err != nil {
			c.broke(err)
			input = true
		}
	}
	if ev&evHup != 0 && c.flags.Load()&fPeerEOF != 0 {
		// Both directions are down: nothing more can come, and a
		// level-triggered registration would report HUP forever.
		c.deregister()
	}
	if input {
		passed = c.onInput()
	}
	if !requeue {
		c.updateEvents()
	}
	return requeue, passed
}

// fConnectTaken marks a connection whose connect's outcome is being, or
// has been, taken (takeConnect): by the poller, or by a dial that polls
// the socket itself (pollConnect). SO_ERROR reads once: the second
// taker would see none. Sticky.
const fConnectTaken = fUnix << 20

// takeConnect takes the outcome of c's connect (endConnect) unless the
// poller or the dial has taken it, and reports whether it did.
func (c *Conn) takeConnect() bool {
	if c.flags.Or(fConnectTaken)&fConnectTaken != 0 {
		return false
	}
	c.endConnect()
	return true
}

// endConnect takes the outcome of c's connect once the socket has
// reported it (writable, an error or a hang-up): an error breaks c. The
// idle clock starts at the connect, not at the dial's start (checkIdle
// leaves a connect in flight alone), before the flag goes. Through
// takeConnect.
func (c *Conn) endConnect() {
	if err := c.socketError(); err != nil {
		c.setBroken(err)
	}
	c.touch()
	c.flags.And(^uint32(fConnecting))
}

// socketError returns what an error event reports: the socket's pending
// error, or else the error that ended the pollset's watch of it (a poll
// request io_uring refused or ended), after which no event would come.
func (c *Conn) socketError() error {
	if err := sysSocketError(int(c.fd)); err != nil {
		return err
	}
	return c.p.ep.pollErr(int(c.fd))
}

// disarmed records, after an event, that the kernel disarmed the
// registration: a one-shot one, or a paused level-triggered one (see
// wantEvents). A paused one that hung up stays disarmed until the input
// resumes: armed again for errors alone, it would report the hang-up
// on every wait. f is c's flags.
func (c *Conn) disarmed(f, ev uint32) {
	trig := c.owner.cfg.Trigger
	if trig == OneShot || trig == LevelTriggered && f&fInPaused != 0 && ev&evHup == 0 {
		var now uint32
		if trig == OneShot && f&fInPaused != 0 && ev&evHup != 0 {
			// The mask a paused connection wants (evOne, see
			// applyEvents) is recorded as registered: no mod until
			// the input resumes.
			now = evOne
		}
		c.emu.Lock()
		c.armed.Store(now)
		c.unlockEmu()
	}
}

// lingerEvent sends the rest of a closed connection's output.
func (c *Conn) lingerEvent(ev uint32) {
	if ev&(evOut|evErr|evHup) != 0 {
		c.pollFlush()
	}
	if c.out.Len() == 0 || ev&(evErr|evHup) != 0 || c.flags.Load()&fBroken != 0 {
		c.finishClose()
	} else {
		c.updateEvents()
	}
}

// fill reads from the socket into the inbound buffer: once in level-
// triggered mode, until the socket is drained (or edgeBudget bytes)
// otherwise, and never beyond the input bound nor, over the Server's
// buffer budget, beyond the connection's share of it (see budget). At
// either limit it pauses the connection: level-triggered and one-shot
// drop EPOLLIN, edge-triggered remembers that the socket may still hold
// data, and a consumer that drains resumes it (consumed, resumeInput).
// Runs on the poller with a reference.
//
// Drained is EAGAIN, or a short read when shortDrains says one is
// enough: that saves the EAGAIN read per message that the standard
// library's netpoller makes.
func (c *Conn) fill(trig Trigger, ev uint32) (n int, more, eof bool, err error) {
	p := c.p
	short := c.shortDrains(trig, ev)
	for {
		if n > 0 {
			// Published before the next read, so that the budget sees
			// this connection's growth within one fill; the last read's
			// is published by onEvent, or by the run it passes c to.
			c.accountIn()
		}
		room, byBudget := c.inRoom()
		if room <= 0 {
			if room = c.pause(byBudget); room <= 0 {
				return n, false, false, nil
			}
		}
		size := int(c.readSize)
		if size == 0 {
			size = minReadSize
		}
		// Read no more than the room (rounded up to a small buffer): in
		// accept mode the bound is a few KiB of read-ahead.
		size = min(size, max(room, minReadSize))
		// Under BackendUring, received input may enter c.in without a
		// copy (fillIn), whole pieces up to the room (at most one piece
		// beyond it); otherwise, and when the socket must be read, a
		// read into booked space.
		m, rerr, took := p.ep.fillIn(int(c.fd), &c.in, min(size, room))
		if took {
			size = min(size, room) // less than that: the stash is drained
		} else {
			// On the stack, as in writeOut: an array kept in the poller
			// would have to be cleared after each read (not to pin the
			// buffers for the GC), and clearing pointers costs a write
			// barrier call.
			var arr [maxVecs][]byte
			vecs := c.in.Book(size, arr[:0])
			if len(vecs) == 0 {
				return n, false, false, nil // buffer closed
			}
			vecs = capVecs(vecs, size)
			m, rerr = p.ep.readv(int(c.fd), vecs, &p.ctr.readCalls)
			if h := testHookRead.Load(); h != nil {
				(*h)(c, m)
			}
			c.in.BookAck(max(m, 0))
		}
		if m < 0 {
			m = 0
		}
		switch {
		case rerr == errAgain:
			p.ctr.readEAGAIN.Add(1)
			return n, false, false, nil
		case rerr != nil:
			return n, false, false, os.NewSyscallError("readv", rerr)
		case m == 0:
			c.flags.Or(fPeerEOF)
			return n, false, true, nil
		}
		n += m
		p.ctr.bytesIn.Add(uint64(m))
		c.touch()
		if m >= size && size < maxReadSize && size == int(max(c.readSize, minReadSize)) {
			c.readSize = uint32(size * 2)
		}
		// The vectors hold exactly size bytes, so m < size is a short
		// read.
		if trig == LevelTriggered || short && m < size {
			return n, false, false, nil
		}
		if n >= edgeBudget {
			// One-shot re-arms level-style and is notified again; edge-
			// triggered is not, so the poller queues it.
			return n, trig == EdgeTriggered, false, nil
		}
	}
}

// capVecs trims vecs to hold at most size bytes in all.
func capVecs(vecs [][]byte, size int) [][]byte {
	for i, v := range vecs {
		if len(v) >= size {
			vecs[i] = v[:size]
			return vecs[:i+1]
		}
		size -= len(v)
	}
	return vecs
}

// pause stops reading c at its bound (byBudget: at its share of the
// buffer budget) and returns the room there is after all: a consumer
// that drained (or a budget that fell) between the caller's check and
// the flag did not see the flag, so it looks again, and with room
// (> 0) the pause is undone.
func (c *Conn) pause(byBudget bool) int {
	c.setPaused(byBudget)
	if byBudget {
		c.owner.budget.add(c)
	}
	room, _ := c.inRoom()
	if room > 0 {
		c.clearPaused()
	}
	return room
}

// inBound is how much unread input c may hold: MaxInput, or what a
// blocked reader waits for when that is more.
func (c *Conn) inBound() int {
	n := c.owner.cfg.MaxInput
	if w := c.rwait.Load(); w != nil {
		n = max(n, int(w.need.Load()))
	}
	return n
}

// inRoom returns how many more bytes fill may read into c, and when
// none, whether the Server's buffer budget (rather than c's own bound)
// is why.
func (c *Conn) inRoom() (room int, byBudget bool) {
	held := c.in.Len()
	room = c.inBound() - held
	b := c.owner.budget
	if room <= 0 || b == nil || !c.budgeted() || !b.pressed() {
		return room, false
	}
	share := b.share() - int64(held) - int64(c.out.Len())
	if share <= 0 {
		return 0, true
	}
	return int(min(int64(room), share)), false
}

// shortDrains reports whether a read that returns less than it asked
// for has drained the socket as far as this event is concerned, so that
// fill need not read again to see EAGAIN.
//
// One-shot: always; the re-arm (EPOLL_CTL_MOD) polls the socket, so
// anything left is reported again. Edge-triggered TCP: a short read
// took all the socket held, and whatever arrives later wakes epoll and
// makes a new edge. Not when the event also reports a hang-up, an error
// or urgent data: the read stops short before a FIN (EOF would then be
// seen only with the next edge, which never comes) and before the
// urgent mark. Not for AF_UNIX, whose reads also stop short at a
// message carrying file descriptors or other credentials. Requeued and
// resumed connections come with evRDHup set (runRequeue, drainQueue):
// they may have missed a hang-up in an earlier pass.
func (c *Conn) shortDrains(trig Trigger, ev uint32) bool {
	switch trig {
	case OneShot:
		return true
	case EdgeTriggered:
		return ev&(evRDHup|evHup|evErr|evPri) == 0 && c.flags.Load()&fUnix == 0
	}
	return false
}

// pollFlush sends queued output on EPOLLOUT and wakes a blocked writer.
func (c *Conn) pollFlush() {
	c.sendOut()
	notify(&c.wwait)
}

// sendOut writes the queued output (writeOut, under emu), breaks the
// connection on a write error and returns it with the bytes it wrote,
// then accounts for what left the buffer and does what waited for it
// to be gone (outSent). The caller holds a reference.
func (c *Conn) sendOut() (int, error) {
	c.emu.Lock()
	n, err := c.writeOut()
	shut := err != nil && c.peerReadShut(err)
	if shut {
		c.dropOut()
	}
	c.unlockEmu()
	if err != nil && !shut {
		c.broke(err)
	}
	c.drained(c.accountOut())
	c.outSent() // a Close or CloseWrite may have come meanwhile
	return n, err
}

// fOutFull marks a connection whose last writev of queued output the
// kernel refused (EAGAIN), with no writable event seen since: a Flush
// that finds the queue so (drainOutWait) adds its batch to it and leaves
// the sending to the poller, rather than make a writev that would be
// refused too, once per handler run for as long as the peer does not
// read. Only writeOut sets it, under emu and after a refused writev of
// bytes already queued, so the poller, which clears it on each writable
// event before it looks at the queue, finds those bytes and sends them
// under emu (pollFlush), which sets or clears it again: it is never
// left set with no writable event to come. A writer that skips its
// writev because of it waits for that event (or returns within its
// bound, with EPOLLOUT armed) as it would after a refused writev.
const fOutFull = fUnix << 21

// markOutFull sets or clears fOutFull, with no atomic write when it is
// already so (the common case: a connection that is not backlogged).
func (c *Conn) markOutFull(full bool) {
	if was := c.flags.Load()&fOutFull != 0; full == was {
		return
	}
	if full {
		c.flags.Or(fOutFull)
	} else {
		c.flags.And(^uint32(fOutFull))
	}
}

// writeOut writes queued output with writev until it is all sent or
// the kernel refuses more (then it sets fOutFull, and clears it
// otherwise). emu must be held (consumer side of out).
func (c *Conn) writeOut() (int, error) {
	if c.flags.Load()&fSending != 0 || c.p.ep.ringSend(c) {
		// The ring owns the head of out until the send completes; its
		// completion sends the rest (uring_linux.go). No writev was
		// refused: a Flush is to come here, not wait for a writable
		// event (fOutFull).
		c.markOutFull(false)
		return 0, nil
	}
	total := 0
	full := false
	defer func() { c.markOutFull(full) }()
	for c.out.Len() > 0 {
		var arr [maxVecs][]byte
		vecs := c.out.GetBytes(arr[:0])
		if len(vecs) == 0 {
			return total, nil
		}
		m, err := sysWritev(int(c.fd), vecs)
		c.p.ctr.writeCalls.Add(1)
		if m > 0 {
			c.out.Skip(m)
			c.out.Release()
			total += m
			c.p.ctr.bytesOut.Add(uint64(m))
		}
		if err == errAgain {
			c.p.ctr.writeEAGAIN.Add(1)
			full = true
			break
		}
		if err != nil {
			return total, os.NewSyscallError("writev", err)
		}
	}
	if total > 0 {
		c.touch()
	}
	// The caller accounts for the output (c.drained(c.accountOut()))
	// once it has let go of emu: a drop in the buffered bytes may resume
	// connections the budget paused, which takes their emu.
	return total, nil
}

// wantEvents computes the epoll mask c needs now, from atomic state
// only (flags, hstate, the output's length), so that updateEvents may
// look without emu.
func (c *Conn) wantEvents() uint32 {
	trig := c.owner.cfg.Trigger
	if trig == EdgeTriggered {
		// evPri: an event that brings urgent data must read to EAGAIN
		// (see shortDrains).
		return evIn | evOut | evRDHup | evPri | evET
	}
	f := c.flags.Load()
	var ev uint32
	if f&(fPeerEOF|fInPaused|fLinger|fBroken) == 0 {
		busy := c.owner.handler != nil && c.hstate.Load()&hRunning != 0
		if trig != OneShot || !busy || f&fReaderWaiting != 0 {
			ev |= evIn | evRDHup
		}
	}
	if c.out.Len() > 0 || f&(fConnecting|fRoomWait) != 0 {
		ev |= evOut
	}
	if trig == OneShot || trig == LevelTriggered && f&fInPaused != 0 {
		// Even with nothing wanted, errors and hang-ups must fire once,
		// not level-style: a paused connection whose socket hangs up
		// would otherwise be reported again on every wait until its
		// reader drains it.
		ev |= evOne
	}
	return ev
}

// updateEvents brings the epoll registration in line with c's state.
// Every change of state that affects the mask is followed by a call,
// so the last one wins. The caller holds a reference.
//
// It never waits for emu: when another goroutine holds it (a writer in
// writev, the poller sending queued output), updateEvents marks the
// mask stale and that goroutine applies it before it lets emu go (see
// unlockEmu). A poller's loop must not sleep behind a handler's write:
// under DispatchHandoff the goroutine holding emu may be the old leader,
// whose thread the OS has just descheduled, and every connection of the
// poller would wait for it.
//
// A mask that is already what the state wants, the common case (a
// level-triggered connection that answered at once), costs no lock:
// updateEvents looks at armed without emu and stops there. A holder of
// emu that registers an older mask meanwhile looks at the state again
// after it stored armed (applyEvents), and this call's change of state
// came before its look at armed, so that second look sees it.
func (c *Conn) updateEvents() {
	if c.owner.cfg.Trigger == EdgeTriggered {
		return // registered once for everything
	}
	if c.wantEvents() == c.armed.Load() {
		return
	}
	if !c.emu.TryLock() {
		c.flags.Or(fMaskStale)
		// Again after the mark: a holder that looked at the flag
		// before it was set and has let go since leaves emu free.
		if !c.emu.TryLock() {
			return // the holder sees the mark in unlockEmu
		}
	}
	c.applyEvents()
	c.unlockEmu()
}

// fMaskStale marks a connection whose epoll mask an updateEvents could
// not apply because emu was held: the holder applies it (unlockEmu).
const fMaskStale = fUnix << 3

// applyEvents sets the epoll mask that c's state wants. emu must be
// held. After a change it looks at the state again, until the mask
// stays: an updateEvents that found the old mask current did not wait
// for emu (see there), and its change of state may have come after
// this call computed the mask it registers.
//
// A one-shot connection that wants nothing but errors is left disarmed
// while its handler runs or it is done reading (see leftDisarmed).
func (c *Conn) applyEvents() {
	if c.flags.Load()&fRegistered == 0 {
		return
	}
	for {
		want := c.wantEvents()
		if want == c.armed.Load() || want == evOne && c.owner.cfg.Trigger == OneShot && c.leftDisarmed() {
			return
		}
		if h := testHookApplyEvents.Load(); h != nil {
			(*h)(c)
		}
		if err := c.p.ep.mod(int(c.fd), want, c.slot, c.p.reg.gen(c.slot)); err != nil {
			return
		}
		c.armed.Store(want)
	}
}

// leftDisarmed reports whether a one-shot connection that wants nothing
// but errors (evOne) may stay disarmed: while a run is scheduled or
// runs, whose end re-arms it (run), or when it is not paused (done
// reading: its end or an error has come). A paused one is armed for
// errors once no run is due: nothing else would re-arm it, and its
// peer's reset would go unseen until the input is consumed.
func (c *Conn) leftDisarmed() bool {
	return c.flags.Load()&fInPaused == 0 || c.owner.handler != nil && c.hstate.Load()&hRunning != 0
}

// testHookRead, when set by a test, runs in fill between a read from
// the socket (m: its result) and the publication of what it read: the
// input is then in neither the socket nor the buffer.
var testHookRead atomic.Pointer[func(c *Conn, m int)]

// testHookInput, when set by a test, runs in onInput between waking a
// blocked reader and looking for an input registration (fireInput).
var testHookInput atomic.Pointer[func(c *Conn)]

// testHookApplyEvents, when set by a test, runs in applyEvents between
// computing a changed mask and registering it. Atomic: a poller of an
// earlier test's connection may apply a mask while a test sets it.
var testHookApplyEvents atomic.Pointer[func(c *Conn)]

// unlockEmu lets go of emu, first applying a mask that an updateEvents
// left to the holder. Every holder of emu releases it here. The flag is
// looked at again after the unlock: an updateEvents that set it between
// the look and the unlock found emu held, and may have found it held
// on its second try too.
func (c *Conn) unlockEmu() {
	for {
		if c.flags.Load()&fMaskStale != 0 {
			c.flags.And(^uint32(fMaskStale))
			c.applyEvents()
		}
		c.emu.Unlock()
		if c.flags.Load()&fMaskStale == 0 || !c.emu.TryLock() {
			return
		}
	}
}

// broke records a fatal socket error: readers get it after the
// buffered input, writers at once. A handler-mode connection is closed
// (its owner cannot see the error otherwise); an accept-mode one is
// deregistered so that level-triggered error events stop, and its
// owner closes it.
func (c *Conn) broke(err error) {
	c.setBroken(err)
	notify(&c.rwait)
	notify(&c.wwait)
	if c.owner.handler != nil {
		c.closeWith(err)
		return
	}
	c.deregister()
}

func (c *Conn) setBroken(err error) {
	c.updateExt(func(e *connExt) {
		if e.errno == 0 {
			e.errno = errnoOf(err)
		}
	})
	c.flags.Or(fBroken)
}

// brokenErr is the error of an operation on broken c, named for the
// system call that would have failed (read or write), as Go's net does.
func (c *Conn) brokenErr(call string) error {
	return os.NewSyscallError(call, c.errno())
}

// fPeerReadShut marks a Unix-domain connection without a handler whose
// write failed with EPIPE: its peer reads no more, having shut its
// reading side down (AF_UNIX passes shutdown(SHUT_RD) on to the peer's
// socket, TCP does not) or closed. Such a peer may still send, so
// reading goes on, as on Go's *net.UnixConn: only writing ends. Writes
// fail with EPIPE from then on, as the kernel's do, and output queued
// is dropped (peerReadShut). Sticky. A handler-mode connection is
// closed instead, as for any failed send (broke).
const fPeerReadShut = fUnix << 16

// peerReadShut reports whether err, a failed write's on c's socket,
// ends only c's writing (see fPeerReadShut), and if so marks c: the
// caller then does not break c, and drops what is queued (dropOut)
// where it holds emu.
func (c *Conn) peerReadShut(err error) bool {
	if c.flags.Load()&fUnix == 0 || c.owner.handler != nil || !errors.Is(err, errBrokenPipe) {
		return false
	}
	c.flags.Or(fPeerReadShut)
	return true
}

// dropOut drops the queued output of a connection whose peer reads no
// more (fPeerReadShut): it can never be sent, and the poller would
// otherwise try it again on each EPOLLOUT. The caller holds emu
// (consumer side of out; under BackendStd, which has no poller, wmu).
func (c *Conn) dropOut() {
	if n := c.out.Len(); n > 0 {
		c.out.Skip(n)
		c.out.Release()
	}
}

// dropShutOut drops c's queued output once its writing has ended
// (fPeerReadShut) and returns the error of the write that finds it so:
// a batch a Flush or FlushAsync published after the failed send would
// otherwise stay queued, one per call, with no send to drop it (under
// edge triggering no EPOLLOUT comes). The caller holds wmu.
func (c *Conn) dropShutOut(op string) error {
	c.emu.Lock()
	c.dropOut()
	c.unlockEmu()
	c.drained(c.accountOut())
	return c.opErr(op, writeShutErr("write"))
}

// writeShutErr is the error of a write on a connection whose peer reads
// no more (fPeerReadShut): the kernel's, EPIPE. call names the system
// call.
func writeShutErr(call string) error { return os.NewSyscallError(call, errBrokenPipe) }

// fBrokenTold marks a broken connection whose error a read or write
// has reported: the kernel hands a socket's pending error to one call,
// and later writes fail with EPIPE (writeBrokenErr).
const fBrokenTold = fUnix << 13

// brokeTold breaks c with err, which the socket has just reported to
// the caller's own call (a read, write, sendfile or splice): later calls
// see EPIPE or the end of the stream, as on Go's socket, not err again.
func (c *Conn) brokeTold(err error) {
	c.broke(err)
	c.flags.Or(fBrokenTold)
}

// writeBrokenErr is what a write on a broken connection fails with, as
// Go's writes on the socket would: the error that broke it if no read
// or write has reported it yet (the poller took it from the kernel
// before the application asked), EPIPE after that. call names the
// system call.
func (c *Conn) writeBrokenErr(call string) error {
	if c.flags.Or(fBrokenTold)&fBrokenTold != 0 {
		return os.NewSyscallError(call, errBrokenPipe)
	}
	return c.brokenErr(call)
}

// errno is the error that broke c (EIO when none was recorded).
func (c *Conn) errno() error {
	var e int32
	if x := c.ext.Load(); x != nil {
		e = x.errno
	}
	return errnoErr(e)
}

// onInput wakes a blocked reader and schedules the handler.
//
// It reports whether c went to p.ready for a run on the leader, which
// then takes over the caller's reference (see onEvent).
func (c *Conn) onInput() (passed bool) {
	notify(&c.rwait)
	if h := testHookInput.Load(); h != nil {
		(*h)(c)
	}
	c.fireInput()
	switch {
	case c.owner.handler == nil:
	case c.p.inPass && c.owner.cfg.Dispatch <= DispatchPool:
		return c.p.collect(c) // DispatchHandoff or DispatchPool: run at the pass's end
	default:
		c.schedule()
	}
	return false
}

// consumed is called by readers after they took bytes: drained to half
// the bound, a paused accept-mode connection resumes reading. Half, not
// just below the bound: a reader that takes a little at a time would
// otherwise make the poller re-arm and disarm for every few bytes; a
// reader that wants more than is buffered resumes it in waitRead.
//
// A handler, unlike a reader, is not called again for input that is
// already buffered: it runs when more arrives. So with a handler a
// paused connection resumes as soon as it is below its bound, and a
// handler that consumes part of its input and returns gets more.
func (c *Conn) consumed() {
	d := c.accountIn()
	if c.flags.Load()&fInPaused != 0 {
		resume := c.owner.cfg.MaxInput
		if c.owner.handler == nil {
			resume = resume/2 + 1
		}
		if c.in.Len() < resume {
			c.resumeInput()
		}
	}
	c.drained(d)
}

// resumeInput restarts reading after backpressure (by the bound or by
// the budget). Level-triggered and one-shot re-add EPOLLIN; edge-
// triggered gets no new edge for bytes already in the socket, so the
// poller is asked to read again.
func (c *Conn) resumeInput() {
	if !c.clearPaused() {
		return
	}
	if c.sock != nil {
		c.stdResume()
		return
	}
	if c.owner.cfg.Trigger == EdgeTriggered {
		c.p.kick(c)
		return
	}
	c.updateEvents()
}
