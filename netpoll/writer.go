package netpoll

import (
	"runtime"
	"sync"
	"time"

	"github.com/upoll/upoll/buffer"
)

// Writer is the nocopy writing side of a Conn. Writes go to the
// connection's outbound buffer and are invisible to the peer until
// Flush, which sends on the caller's goroutine (a batch with nothing
// queued ahead goes out with one write from where it was written) and
// leaves what the kernel does not take to the poller (EPOLLOUT), or
// FlushAsync, which leaves all of it to the poller. Behind output that
// the kernel last refused (the peer reads slower than the connection
// writes), Flush queues its batch without a write, and the poller sends
// it when the socket has room. Flush blocks only
// while more than MaxOutput bytes are queued, until the write
// deadline or timeout. When the deadline passes, what was flushed
// stays queued and is sent later; a Flush that finds more than
// MaxOutput still queued keeps its batch until there is room, and the
// writes that would add to that batch wait for room too (failing when
// the deadline passes): a writer that goes on after timeouts makes the
// connection hold at most MaxOutput, the batch whose Flush timed out
// and the first write of the next. One goroutine at a time should build a batch
// (Malloc…Flush); the methods themselves are serialized with Write. A
// Write, CloseWrite or ReadFrom meanwhile, on any goroutine, sends the
// batch as it stands ahead of its own bytes (see Conn.Write): the
// slices Malloc returned are then invalid, as after Flush. The peer
// gets what they held when the batch was sent, and a later write into
// them is lost (their memory goes to the garbage collector, never to
// another batch), so a goroutine that builds a batch must not share
// the connection with such calls until its Flush. A
// batch holds at most 1 GiB: a write past that fails with
// buffer.ErrTooLarge and writes nothing (Flush, then write on).
//
// A batch still open when the connection closes (a Close from another
// goroutine between Malloc and Flush, a handler that returned an error
// or panicked before its Flush) is never sent, and stays its writer's:
// its slices stay writable, and the writer's next Flush fails with
// net.ErrClosed and frees the batch. Without that Flush the batch goes
// to the garbage collector rather than the pool, and buffer.LiveNodes
// keeps counting its nodes.
type Writer interface {
	// Malloc returns n writable bytes, valid until Flush.
	Malloc(n int) ([]byte, error)
	// MallocAck keeps only the first n bytes written since the last
	// Flush (MallocLen counts them), by Malloc or any other write, and
	// drops the rest, typically the unused end of the last Malloc.
	MallocAck(n int) error
	// MallocLen returns the bytes written since the last Flush.
	MallocLen() int
	// WriteBinary copies b into the buffer.
	WriteBinary(b []byte) (int, error)
	// WriteString copies s into the buffer.
	WriteString(s string) (int, error)
	// WriteByte appends one byte.
	WriteByte(b byte) error
	// Append links other's bytes without copying; other becomes empty.
	Append(other *buffer.LinkBuffer) error
	// Flush sends everything written so far.
	Flush() error
	// FlushAsync publishes everything written so far and leaves the
	// sending to the connection's poller, which writes it in its next
	// pass: output that several goroutines queue on the connection
	// meanwhile goes out in one writev, and a goroutine that writes a
	// request and then waits for its answer makes no system call (the
	// first FlushAsync of a pass wakes the poller with one eventfd
	// write, later ones nothing).
	//
	// It returns at once, unless more than MaxOutput bytes would be
	// queued: then it flushes and waits for room as Flush does, so a
	// peer that does not read holds at most MaxOutput bytes of the
	// connection's output plus one batch. An error of the send itself
	// comes later, as for what Flush leaves to EPOLLOUT: it breaks the
	// connection and the next call fails (a handler-mode connection is
	// closed; of a Unix-domain one without a handler, whose peer reads
	// no more, only the writing ends: see Conn.Write). A Close after FlushAsync sends the queued bytes first,
	// as after Flush. Under BackendStd, which has no poller, it is
	// Flush.
	//
	// Use it where each flush would cost a system call on a busy
	// connection, such as a client whose callers write requests from
	// many goroutines. A handler answering on its poller gains nothing:
	// Flush there already runs on the poller.
	FlushAsync() error
}

// connWriter is a Conn seen through Writer.
type connWriter Conn

// Writer returns the nocopy writing API of c.
func (c *Conn) Writer() Writer { return (*connWriter)(c) }

func (w *connWriter) conn() *Conn { return (*Conn)(w) }

// begin takes wmu (see lockWrite) and a reference for a write.
func (w *connWriter) begin() error {
	if err := w.conn().lockWrite(); err != nil {
		return err
	}
	return w.locked()
}

// locked is begin once wmu is held: it takes the reference, or lets wmu
// go and says why it cannot.
func (w *connWriter) locked() error {
	c := w.conn()
	if !c.incref() {
		c.wmu.Unlock()
		return c.opErr("write", errClosed)
	}
	if c.flags.Load()&fWrShut != 0 {
		w.end()
		return c.opErr("write", ErrWriteShutdown)
	}
	return nil
}

// lockWrite takes wmu for a write. An inline handler (DispatchInline)
// that finds it taken must not wait for it (lockOnLoop). Uncontended,
// TryLock costs what Lock does.
func (c *Conn) lockWrite() error {
	if !c.wmu.TryLock() {
		if c.sock == nil && c.onInlineLoop() {
			return c.lockOnLoop(&c.wmu, fWriterWaiting)
		}
		c.wmu.Lock()
	}
	return nil
}

// lockOnLoop takes mu, rmu or wmu, for an inline handler that found it
// taken by another goroutine, or reports ErrWouldBlock. The handler runs
// on its poller, and the holder may be waiting (waiting set in flags)
// for input or room that only this poller would read or make: a Lock
// would stall every connection of the poller until the holder's
// deadline, for ever without one. A holder that does not wait lets go
// soon: the handler spins for it, yielding, at most lockSpin, so that a
// brief call of another goroutine does not cost the handler its run
// (after ErrWouldBlock only more input runs it again).
func (c *Conn) lockOnLoop(mu *sync.Mutex, waiting uint32) error {
	start := time.Now()
	for !mu.TryLock() {
		if c.flags.Load()&waiting != 0 || time.Since(start) > lockSpin {
			return ErrWouldBlock
		}
		runtime.Gosched()
	}
	return nil
}

// lockSpin bounds lockOnLoop's spin: the longest a poller waits for
// another goroutine's call on one of its connections, with the others.
const lockSpin = time.Millisecond

// beginGrow is begin for a write that adds to the batch. While more
// than MaxOutput is queued and a batch is already being built (a Flush
// whose deadline passed left both), the write first waits for room as
// Flush does, and fails if the deadline passes: a writer that goes on
// after a timeout cannot make the connection hold more than MaxOutput
// plus its batches.
func (w *connWriter) beginGrow() error {
	if err := w.begin(); err != nil {
		return err
	}
	c := w.conn()
	if c.out.MallocLen() > 0 && c.out.Len() > c.owner.cfg.MaxOutput {
		if err := c.drainOut(c.owner.cfg.MaxOutput, "write"); err != nil {
			w.end()
			return err
		}
	}
	return nil
}

// endClosedBatch ends the batch of a Flush that failed because the
// connection closed: the batch's slices are the caller's no more, so its
// nodes can go back to the pool. The connection's destroy leaves an open
// batch alone (its writer may still be filling it), and a Flush is the
// writer saying it is done with it. Without a reference: the buffer
// stays usable after destroy (only closed), and wmu serializes this
// producer call with others. A batch that holds no byte (MallocAck(0)
// after a Malloc) may still hold a node: the Flush is made whatever
// MallocLen says, and costs nothing when no batch is open.
//
// A lingering close has not closed the buffer yet, and its Flush would
// publish the batch, which the linger then sends: the batch's bytes are
// dropped first (MallocAck(0)), so that a Flush that failed sends
// nothing.
func (w *connWriter) endClosedBatch() {
	c := w.conn()
	c.wmu.Lock()
	if c.fdst.closed() {
		c.out.MallocAck(0) // ErrClosed once the buffer is: Flush frees the batch then
		c.out.Flush()      // on a closed buffer: frees the batch (endBatch)
	}
	c.wmu.Unlock()
}

func (w *connWriter) end() {
	c := w.conn()
	c.decref()
	c.wmu.Unlock()
}

func (w *connWriter) Malloc(n int) ([]byte, error) {
	if err := w.beginGrow(); err != nil {
		return nil, err
	}
	defer w.end()
	return w.out.Malloc(n)
}

func (w *connWriter) MallocAck(n int) error {
	if err := w.begin(); err != nil {
		return err
	}
	defer w.end()
	return w.out.MallocAck(n)
}

func (w *connWriter) MallocLen() int { return w.out.MallocLen() }

func (w *connWriter) WriteBinary(b []byte) (int, error) {
	if err := w.beginGrow(); err != nil {
		return 0, err
	}
	defer w.end()
	return w.out.WriteBinary(b)
}

func (w *connWriter) WriteString(s string) (int, error) {
	if err := w.beginGrow(); err != nil {
		return 0, err
	}
	defer w.end()
	return w.out.WriteString(s)
}

func (w *connWriter) WriteByte(b byte) error {
	if err := w.beginGrow(); err != nil {
		return err
	}
	defer w.end()
	return w.out.WriteByte(b)
}

func (w *connWriter) Append(other *buffer.LinkBuffer) error {
	if err := w.beginGrow(); err != nil {
		return err
	}
	defer w.end()
	return w.out.Append(other)
}

func (w *connWriter) Flush() error { return w.flush(false) }

// flush is Flush, and FlushAsync when async: the output is left to the
// poller unless it is over MaxOutput (see queueOut).
func (w *connWriter) flush(async bool) error {
	if err := w.begin(); err != nil {
		if err != ErrWouldBlock { // wmu is another's: the batch is not ended
			w.endClosedBatch()
		}
		return err
	}
	defer w.end()
	c := w.conn()
	if passed(deadline(&c.wwait)) {
		return c.opErr("write", errTimeout)
	}
	if async && c.sock == nil && c.out.Len()+c.out.MallocLen() <= c.outLimit(c.owner.cfg.MaxOutput) {
		return c.queueOut()
	}
	if c.sock != nil {
		// Small batches only: stdSend accounts a large one, which the
		// connection holds while the write waits for the peer.
		if p := c.out.Unflushed(); p != nil && len(p) < stdAccountMin && !c.fdst.closed() && c.flags.Load()&fBroken == 0 {
			return c.stdFlushDirect(p)
		}
	} else if !async {
		if p := c.out.Unflushed(); p != nil && !c.p.ep.sendsOnRing(c, len(p)) {
			if done, err := c.flushDirect(p); done {
				return err
			}
		}
	}
	if c.out.Len() > c.owner.cfg.MaxOutput {
		// An earlier Flush whose deadline passed left more than
		// MaxOutput queued: this batch waits for room before it joins
		// the queue, and stays in the batch if the deadline passes
		// again.
		if err := c.drainOut(c.owner.cfg.MaxOutput, "write"); err != nil {
			return err
		}
	}
	return c.flushOut(c.owner.cfg.MaxOutput, "write")
}

// flushDirect sends a batch that nothing queued precedes (p, from
// Unflushed) straight from its node, as Write's direct path sends its
// caller's bytes: the common Flush, which the kernel takes whole, then
// skips the queue (publish, writev from the queue's vectors, skip and
// release under emu, the budget's accounting). done reports that the
// Flush is over, with its error; otherwise nothing was sent and the
// batch is still the writer's, to flush the usual way. The caller holds
// wmu and a reference.
func (c *Conn) flushDirect(p []byte) (done bool, err error) {
	if c.flags.Load()&(fBroken|fShutAsked|fLinger|fPeerReadShut) != 0 {
		return false, nil // the usual path says how the write fails
	}
	m, err := sysWrite(int(c.fd), p)
	c.p.ctr.writeCalls.Add(1)
	if m <= 0 {
		if err == errAgain {
			c.p.ctr.writeEAGAIN.Add(1)
		}
		// Nothing went out. The usual path's writev tries again (one
		// more system call for a socket that is full or broken): an
		// error shows there and breaks the connection.
		return false, nil
	}
	c.p.ctr.bytesOut.Add(uint64(m))
	c.touch()
	if m == len(p) {
		c.endSentBatch(m)
		return true, nil
	}
	// A short write: the kernel's buffer is full, and the rest is queued
	// as the usual path would leave it, under emu, so that the poller,
	// which sends what is queued, never sees the sent head.
	c.emu.Lock()
	open := c.endSentBatch(m)
	c.unlockEmu()
	if !open {
		return true, c.opErr("write", errClosed)
	}
	return true, c.drainOut(c.owner.cfg.MaxOutput, "write")
}

// endSentBatch ends the writer's batch after a write straight from it
// (Unflushed) sent its first n bytes: all sent, it is dropped, never
// published; otherwise it is published with the sent head skipped. It
// reports false when the buffer closed before the rest could be queued.
// The caller holds wmu, and out's consumer side for a partial send
// (emu; under BackendStd, wmu alone).
func (c *Conn) endSentBatch(n int) (open bool) {
	if n == c.out.MallocLen() {
		c.out.MallocAck(0)
		c.out.Flush()
		return true
	}
	if c.out.Flush() != nil {
		return false
	}
	c.out.Skip(n)
	c.out.Release()
	return true
}
