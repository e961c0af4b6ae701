package netpoll

import (
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// waiter is where one blocked goroutine (a reader or a writer; the
// Conn's mutexes make it one at a time) sleeps. It is allocated on a
// connection's first blocking wait or first deadline only, so idle
// connections that do neither pay nothing; the timer is reused (Reset),
// so deadline changes and repeated waits allocate nothing.
//
// It is a one-token semaphore: notify posts the token unless one is
// already posted, sleep takes it, waiting if there is none, so a
// notification is never lost and extra ones collapse into one spurious
// wake-up. The token is a sync.WaitGroup's count going from 1 to 0:
// a channel would cost 96 bytes more per blocked connection (an idle
// keep-alive conn of net/http is one), and a Mutex used the same way
// spins before it parks, which a sleeper that usually waits long pays
// for nothing. posted keeps Done from running twice (a negative count
// panics) and Add from racing a Done.
//
// The waiter also holds its side's deadline (Set*Deadline) rather than
// the Conn: 16 bytes less on every connection that has no waiter, 16
// more (a 48-byte waiter instead of 32) on each side that has one.
type waiter struct {
	wg     sync.WaitGroup // count 1: no token; 0: token posted
	dl     atomic.Int64   // deadline (clock.go); 0 = none
	t      *time.Timer    // AfterFunc(post), made on the first sleep with a deadline
	posted atomic.Bool
	// expired says that the timer posted the token: the deadline came
	// before any other wake-up (see sleep).
	expired atomic.Bool
	need    atomic.Int32 // read side: bytes a blocked reader waits for (see inBound)
}

// waiterOf returns the waiter in slot, making it on first use. The
// waiter is published before the caller checks its condition, and
// notifiers change the condition before they look for a waiter, so a
// wake-up cannot fall between the two.
func waiterOf(slot *atomic.Pointer[waiter]) *waiter {
	if w := slot.Load(); w != nil {
		return w
	}
	w := new(waiter)
	w.wg.Add(1)
	if slot.CompareAndSwap(nil, w) {
		return w
	}
	return slot.Load()
}

// notify wakes the goroutine waiting on slot, if any.
func notify(slot *atomic.Pointer[waiter]) {
	if w := slot.Load(); w != nil {
		w.post()
	}
}

// deadline returns the deadline kept in slot's waiter (0: none).
func deadline(slot *atomic.Pointer[waiter]) int64 {
	if w := slot.Load(); w != nil {
		return w.dl.Load()
	}
	return 0
}

// setDeadline stores ns (0: none) as slot's deadline. Clearing a
// deadline that was never set makes no waiter.
//
// Only a deadline moved earlier wakes the sleeper: one moved later, or
// cleared, lets it sleep on until its timer fires at the old deadline,
// and the sleeper, which re-reads the deadline whenever its timer fires,
// sleeps again. A post for nothing would leave the token posted for the
// next sleep to take in vain: net/http clears the read deadline five
// times per request, and each cost a post and a spurious turn of the
// next Read's wait loop. A deadline set to the value it has already is
// left alone, with no locked instruction.
func setDeadline(slot *atomic.Pointer[waiter], ns int64) {
	if w := slot.Load(); w != nil {
		if w.dl.Load() == ns {
			return
		}
	} else if ns == 0 {
		return
	}
	moveDeadline(slot, ns)
}

// moveDeadline is setDeadline's change of the deadline.
func moveDeadline(slot *atomic.Pointer[waiter], ns int64) {
	w := waiterOf(slot)
	if old := w.dl.Swap(ns); ns != 0 && (old == 0 || ns < old) {
		w.post()
	}
}

func (w *waiter) post() {
	if w.posted.CompareAndSwap(false, true) {
		w.wg.Done()
	}
}

// expire is the timer's post: it marks the token as the deadline's when
// no other wake-up came first.
func (w *waiter) expire() {
	if w.posted.CompareAndSwap(false, true) {
		w.expired.Store(true)
		w.wg.Done()
	}
}

// sleep blocks until notified or until deadline (clock.go; 0: none).
// Callers re-check their condition after it returns: a wake-up may be
// stale (posted for an earlier sleep, or by a timer that fired late).
// It reports whether the deadline's timer woke it before anything else
// did. As in Go's runtime, where the timer marks the deadline passed
// before the goroutine runs, a caller then reports the timeout ahead of
// an error or EOF that came while it was waiting to run (under load,
// long after the deadline), once it has checked that the deadline was
// not moved meanwhile.
func (w *waiter) sleep(deadline int64) (expired bool) {
	if deadline != 0 {
		d := time.Duration(deadline - nowNs())
		if d <= 0 {
			return false
		}
		if w.t == nil {
			w.t = time.AfterFunc(d, w.expire)
		} else {
			w.t.Reset(d)
		}
		defer w.t.Stop()
	}
	w.wg.Wait()
	// Take the token: re-arm the count before clearing posted, so that a
	// post in between finds posted still set and leaves the count alone
	// (its wake-up is not lost: the caller re-checks its condition).
	w.wg.Add(1)
	expired = w.expired.Swap(false)
	w.posted.Store(false)
	if hook := testHookWoken.Load(); hook != nil {
		(*hook)(w, expired)
	}
	return expired
}

// testHookWoken, when set by a test, runs as a sleeper wakes, before it
// looks at its condition: the test can make the peer act between the
// deadline and the sleeper's return, as a loaded machine may.
// Atomic: a sleeper of an earlier test's connection may still wake
// while a test sets it.
var testHookWoken atomic.Pointer[func(w *waiter, expired bool)]

// deadlineOf combines an absolute deadline (clock.go; 0: none) with a
// relative timeout counted from start.
func deadlineOf(abs int64, timeout time.Duration, start int64) int64 {
	if timeout > 0 {
		t := start + int64(timeout)
		if t < start {
			t = math.MaxInt64 // a timeout past the clock's end
		}
		if abs == 0 || t < abs {
			return t
		}
	}
	return abs
}

func passed(deadline int64) bool {
	return deadline != 0 && nowNs() >= deadline
}

// waitRead blocks until at least n bytes are buffered. It returns
// io.EOF when the peer has shut down and nothing is buffered,
// io.ErrUnexpectedEOF when fewer than n bytes will ever come, a
// *net.OpError for a deadline/timeout, close or socket error, and
// ErrWouldBlock inside an inline handler; ErrReadTooLarge at once for
// more than a connection can buffer. The caller holds rmu and a
// reference.
func (c *Conn) waitRead(n int) error {
	if c.in.Len() >= n {
		return nil
	}
	if n > maxBound {
		return c.opErr("read", ErrReadTooLarge)
	}
	if c.sock != nil {
		return c.stdWaitRead(n)
	}
	start := nowNs()
	w := waiterOf(&c.rwait)
	waiting := false
	defer func() {
		if waiting {
			w.need.Store(0)
			c.flags.And(^uint32(fReaderWaiting))
		}
	}()
	expired := false
	for {
		// Read again on each wake-up: SetReadTimeout wakes a blocked
		// read to apply the new bound (counted from the wait's start).
		timeout := c.readTimeout()
		if expired && !c.fdst.closed() && passed(deadlineOf(w.dl.Load(), timeout, start)) {
			return c.opErr("read", errTimeout) // see waiter.sleep
		}
		if done, err := c.readDone(n); done {
			if !waiting && n > c.owner.cfg.MaxInput {
				// The lasting need of an inline wait (below) is met.
				w.need.CompareAndSwap(int32(min(n, 1<<30)), 0)
			}
			return err
		}
		if c.onInlineLoop() {
			if n > c.owner.cfg.MaxInput {
				// The handler runs again when more input is buffered,
				// and asks again: the poller must read that far past
				// MaxInput, as for a reader that waits. need stays
				// until a wait finds the n bytes (above).
				w.need.Store(int32(min(n, 1<<30)))
				if c.flags.Load()&fInPaused != 0 {
					c.resumeInput()
				}
			}
			return ErrWouldBlock
		}
		dl := deadlineOf(w.dl.Load(), timeout, start)
		if passed(dl) {
			return c.opErr("read", errTimeout)
		}
		if !waiting {
			waiting = true
			if n > c.owner.cfg.MaxInput {
				w.need.Store(int32(min(n, 1<<30)))
			}
			c.flags.Or(fReaderWaiting)
			if c.owner.cfg.Trigger == OneShot {
				c.updateEvents()
			}
			// A fresh look, after need is published: the poller's
			// pause sets fInPaused and then looks at need again (see
			// pause), so one of the two sees the other. f was loaded
			// before need was stored: a pause in between would be
			// missed, and the reader would sleep on a connection that
			// no longer reads.
			if c.flags.Load()&fInPaused != 0 {
				c.resumeInput()
			}
			continue // re-check with the flags published
		}
		c.p.yieldFrom(c) // the input may be the poller's to read
		expired = w.sleep(dl)
	}
}

// readDone reports whether a wait for n buffered bytes is over, and
// with what: nil when they are there; a close, a socket error, io.EOF
// (the peer shut down, nothing buffered) or io.ErrUnexpectedEOF (fewer
// than n will ever come) otherwise.
func (c *Conn) readDone(n int) (bool, error) {
	if c.fdst.closed() {
		return true, c.opErr("read", errClosed)
	}
	f := c.flags.Load()
	// Bytes are published before EOF or an error is flagged, so looking
	// at the flags first and the length second never reports EOF while
	// bytes are still buffered.
	switch {
	case c.in.Len() >= n:
		return true, nil
	case f&(fBroken|fPeerEOF) == fBroken && c.flags.Or(fBrokenTold)&fBrokenTold == 0:
		// The kernel reports a socket's error to one call (later writes
		// fail with EPIPE, later reads see the end), and a read after
		// the peer's FIN sees the end even if a reset came after it.
		return true, c.opErr("read", c.brokenErr("read"))
	case f&(fBroken|fPeerEOF) != 0:
		if c.in.Len() == 0 {
			return true, io.EOF
		}
		return true, io.ErrUnexpectedEOF
	}
	return false, nil
}

// readDeadlinePassed reports an absolute read deadline in the past: as
// in Go's net, such a Read fails even if bytes are buffered.
func (c *Conn) readDeadlinePassed() bool {
	return passed(deadline(&c.rwait))
}

// flushOut publishes the pending writes and sends them, then waits
// until at most bound bytes remain queued (the poller sends the rest
// on EPOLLOUT). The caller holds wmu and a reference.
func (c *Conn) flushOut(bound int, op string) error {
	if err := c.out.Flush(); err != nil {
		return c.opErr(op, errClosed)
	}
	return c.drainOut(bound, op)
}

// drainOut sends the queued output, then waits until at most bound
// bytes remain queued (under BackendStd, none). Before a write adds to
// the queue, it makes room for it: a Write or Flush whose deadline
// passed left its bytes queued, and one that followed without waiting
// would add its own on top, without bound. The caller holds wmu and a
// reference.
func (c *Conn) drainOut(bound int, op string) error {
	if c.sock != nil {
		return c.stdSend(op)
	}
	waited, err := c.drainOutWait(bound, op)
	if waited {
		// Not a defer in drainOutWait's loop: that would make every
		// Flush pay for the runtime's general defer path.
		c.flags.And(^uint32(fWriterWaiting))
	}
	return err
}

// drainOutWait is drainOut on a native backend; waited reports that it
// set fWriterWaiting, which the caller clears.
func (c *Conn) drainOutWait(bound int, op string) (waited bool, err error) {
	// The clock is read only once Flush has to wait: the common Flush,
	// which the kernel takes whole, pays no clock read. The write timeout
	// counts from then (one writev later than the call).
	var start int64
	var mark int // queued bytes when start was taken
	var w *waiter
	expired := false
	for {
		timeout := c.writeTimeout() // SetWriteTimeout wakes the wait to apply it
		if c.fdst.closed() {
			return w != nil, c.opErr(op, errClosed)
		}
		if expired && passed(deadlineOf(deadline(&c.wwait), timeout, start)) {
			c.updateEvents()
			return true, c.opErr(op, errTimeout) // see waiter.sleep
		}
		if c.flags.Load()&fBroken != 0 {
			return w != nil, c.opErr(op, c.writeBrokenErr("write"))
		}
		if c.flags.Load()&fPeerReadShut != 0 {
			// A send failed and dropped what was queued then; this
			// call's batch goes too.
			return w != nil, c.dropShutOut(op)
		}
		taken := false // another consumer took queued bytes
		if q := c.out.Len(); q > 0 && c.flags.Load()&fOutFull != 0 && !c.p.ep.sendsOnRing(c, 0) {
			// Behind a queue the kernel refused last, the poller sends
			// on the writable event: a writev now would be refused too.
			// (Where the ring may take the send, sendOut hands it the
			// queue instead, and the kernel sends it as room comes.)
			// The batch just queued is counted as sendOut counts it.
			c.accountOut()
		} else if q > 0 {
			if testHookDrainSend != nil {
				testHookDrainSend(c)
			}
			n, err := c.sendOut()
			if err != nil {
				return w != nil, c.opErr(op, err)
			}
			taken = n < q-c.out.Len()
		}
		pending := c.out.Len()
		if taken && c.flags.Load()&(fBroken|fPeerReadShut) != 0 {
			// The poller (EPOLLOUT, a ring send's completion) sent
			// queued bytes between the look above and this call's
			// writev, and its send failed: what this call waits on was
			// dropped with the rest, and the look above says so.
			continue
		}
		if pending <= bound && (pending == 0 || pending <= c.outLimit(bound) || c.onInlineLoop()) {
			// Within bound, and within c's share of a pressed buffer
			// budget (outLimit); an inline handler, which must not
			// wait, keeps its bound.
			if pending > 0 {
				c.updateEvents() // arm EPOLLOUT for the rest
			}
			return w != nil, nil
		}
		if c.onInlineLoop() {
			// An inline handler runs on the poller, which alone would
			// send the rest (EPOLLOUT) and wake this wait: it would wait
			// for itself (its own connection's output, or another's of
			// the same poller: a relay's). The output stays queued and goes out once the
			// handler returns; once it has drained to MaxOutput, the
			// poller sends what the refused Flush kept and runs the
			// handler again (resumeBlocked).
			c.flags.Or(fOutBlocked)
			c.updateEvents()
			c.noteRefused()
			return w != nil, ErrWouldBlock
		}
		if c.flags.Load()&fShutAsked != 0 {
			// A CloseWrite waits for this writer: the queue goes out
			// before its end, sent by the poller.
			c.updateEvents()
			return w != nil, c.opErr(op, shutAskedErr("write"))
		}
		if start == 0 || mark-pending >= c.writeStep() {
			// The timeout bounds a wait for room: once a step of
			// output went out it counts again, as it does for each
			// chunk of a Write, so a peer that reads steadily is not
			// cut because the whole Flush takes longer than it.
			start, mark = nowNs(), pending
		}
		dl := deadlineOf(deadline(&c.wwait), timeout, start)
		if passed(dl) {
			// What is queued stays and is sent by the poller: it needs
			// EPOLLOUT (the poller may have dropped it when it emptied
			// out before this batch came).
			c.updateEvents()
			return w != nil, c.opErr(op, errTimeout)
		}
		if w == nil {
			w = waiterOf(&c.wwait)
			c.flags.Or(fWriterWaiting)
			continue
		}
		c.updateEvents()
		c.p.yieldFrom(c)
		expired = w.sleep(dl)
	}
}

// testHookDrainSend, when set by a test, runs in drainOutWait before
// its sendOut, where the poller may send the queued bytes first.
var testHookDrainSend func(c *Conn)

// fWriterWaiting marks a connection whose writer waits for the peer to
// take output (drainOut; under BackendStd, a write in progress while
// an idle timeout is set): the idle sweep then counts a running handler
// as idle, since it only waits for the peer.
const fWriterWaiting = fUnix << 7
