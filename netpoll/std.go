package netpoll

import (
	"cmp"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/upoll/upoll/buffer"
)

// BackendStd: connections on Go's net package. A connection's socket is
// a net.Conn, read and written with blocking calls on the goroutine that
// needs the bytes, so the Go runtime's netpoller does the waiting:
//
//   - A reader (Read, Reader calls) that finds too little buffered reads
//     the socket itself into the inbound buffer, holding rmu, so reads
//     have one producer at a time and bytes stay in the kernel until a
//     reader asks for them, as with a net.Conn.
//   - A Server with a handler gives each connection one goroutine (its
//     loop): it reads what arrives into the buffer, up to the input
//     bound and the buffer budget, and runs the handler itself, so a
//     handler that waits for more input reads it on the same goroutine.
//   - Flush and Write write on the caller's goroutine until the kernel
//     has taken every byte (or the deadline passes).
//
// Deadlines live in the connection's waiters as on epoll; the net.Conn's
// own deadline only wakes a blocked call, and each wait recomputes it.
// A stdPoller stands in for a poller: it holds the registry, the
// counters and the idle sweep of its connections, and runs no loop; a
// group has stdShards of them, its connections spread over them.

// stdSock is a connection's socket under BackendStd.
type stdSock struct {
	nc net.Conn
	// resume wakes a handler loop paused at the input bound or budget.
	resume chan struct{}
	// rdl is the read deadline last set on nc (clock.go; 0 none, -1
	// unknown: SetReadDeadline reached nc directly). Under rmu.
	rdl atomic.Int64
	// readers counts Read and Reader calls that want rmu (lockRead);
	// bgReading is set while the connection's own goroutine may block
	// in a read holding rmu: for the handler loop's whole life (stdLoop),
	// for each read of an input notification's. A reader that finds rmu
	// taken and bgReading set interrupts that read, which lets go of rmu
	// (stdBackgroundRead).
	readers   atomic.Int32
	bgReading atomic.Bool
	counted   bool // the holder of rmu is counted in readers; under rmu
	// watching is set while an input notification's goroutine runs
	// (stdNotifyInput): one per connection.
	watching atomic.Bool
}

// lockRead takes rmu for a Read or Reader call. Under BackendStd the
// connection's own goroutine may hold rmu while it blocks in the
// socket's read with no deadline: a reader that finds rmu taken says it
// is there and interrupts that read, so that it reads (or waits, with
// its own deadline) in its place. Readers go first: bytes stay in the
// kernel until a reader takes them either way. An uncontended reader
// (a handler on the loop's own goroutine) pays one TryLock.
//
// An inline handler (DispatchInline) that finds rmu taken must not
// wait for it (lockOnLoop).
func (c *Conn) lockRead() error {
	s := c.sock
	if s == nil {
		if !c.rmu.TryLock() {
			if c.onInlineLoop() {
				return c.lockOnLoop(&c.rmu, fReaderWaiting)
			}
			c.rmu.Lock()
		}
		return nil
	}
	if c.rmu.TryLock() {
		return nil
	}
	s.readers.Add(1)
	if s.bgReading.Load() {
		c.stdInterruptRead()
	}
	c.rmu.Lock()
	s.counted = true
	return nil
}

// unlockRead lets go of rmu taken by lockRead.
func (c *Conn) unlockRead() {
	s := c.sock
	if s == nil || !s.counted {
		c.rmu.Unlock()
		return
	}
	s.counted = false
	c.rmu.Unlock()
	s.readers.Add(-1)
}

// stdBackgroundRead is a read by the connection's own goroutine (its
// handler loop, or an input notification's), at most limit bytes, with
// no deadline: it waits for input as long as it takes (deferAcct: see
// stdRead). It gives way to readers (lockRead): with one waiting for
// rmu it reads nothing and reports yielded, and one that comes while it
// blocks interrupts it (then err is os.ErrDeadlineExceeded); the caller
// tries again. With whileEmpty (an input notification's read) it also
// reads nothing, and reports yielded, when it finds input buffered, the
// peer's end or an error once it holds rmu: a reader it gave way to may
// have left them, and the caller is to fire, not to wait for more. The
// order (deadline cleared, bgReading set, readers
// looked at; a reader counts itself, then looks at bgReading) makes
// either side see the other, and an interruption land after the
// cleared deadline.
//
// The handler loop sets bgReading once for its life (stdLoop): setting
// and clearing it around each read cost two locked stores per message.
// A reader that finds rmu held by the loop's handler (Next, Release) then
// interrupts a read that is not there: the past deadline stays on the
// socket with rdl invalid, and the next read, whoever's, sets its own
// (stdSetReadDeadline) before it reads.
func (c *Conn) stdBackgroundRead(limit int, deferAcct, whileEmpty bool) (n int, err error, yielded bool) {
	s := c.sock
	c.rmu.Lock()
	if whileEmpty && (c.in.Len() > 0 || c.flags.Load()&(fPeerEOF|fBroken) != 0) {
		c.rmu.Unlock()
		return 0, nil, true
	}
	c.stdSetReadDeadline(0)
	mark := !s.bgReading.Load() // not the loop's: set for this read
	if mark {
		s.bgReading.Store(true)
	}
	if s.readers.Load() > 0 {
		if mark {
			s.bgReading.Store(false)
		}
		c.rmu.Unlock()
		runtime.Gosched() // the reader takes rmu
		return 0, nil, true
	}
	n, err = c.stdRead(limit, deferAcct)
	if mark {
		s.bgReading.Store(false)
	}
	c.rmu.Unlock()
	return n, err, false
}

// stdShards is how many stdPollers a BackendStd group has. Each
// connection's goroutine updates its poller's counters on every read and
// write, from whichever thread runs it: with one poller those atomics
// are one set of cache lines that every thread writes. Several shards
// per P make two threads rarely meet on one.
func stdShards() int { return 4 * runtime.GOMAXPROCS(0) }

// newStdPoller makes the poller of a BackendStd group: no pollset and no
// goroutine; the idle sweep starts with the first idle timeout.
func newStdPoller(id int, cfg *config) *poller {
	p := &poller{id: id, cfg: cfg, std: true, done: make(chan struct{}), sweepKick: make(chan struct{}, 1)}
	if cfg.IdleTimeout > 0 {
		p.minIdle.Store(int64(cfg.IdleTimeout))
		p.startSweep()
	}
	return p
}

// startSweep starts the idle sweep of a std poller, once.
func (p *poller) startSweep() {
	if !p.sweeping.CompareAndSwap(false, true) {
		return
	}
	// No idle timeout left (sweepIdle): wait for noteIdle's kick.
	period := func() time.Duration { return cmp.Or(p.sweepPeriod(), time.Second) }
	go func() {
		next := time.Now().Add(period())
		t := time.NewTimer(period())
		defer t.Stop()
		for !p.closing.Load() {
			select {
			case <-t.C:
			case <-p.sweepKick:
				// A shorter period (noteIdle): the sweep due with the
				// longer one may be up to a second away.
				if n := time.Now().Add(period()); n.Before(next) {
					next = n
					t.Reset(time.Until(next))
				}
				continue
			}
			p.sweepIdle(nowNs())
			next = time.Now().Add(period())
			t.Reset(time.Until(next))
		}
	}()
}

// newStdConn wraps nc, dialed or accepted on network, as a connection of
// p, not yet registered.
func newStdConn(nc net.Conn, network string, p *poller, o *owner) *Conn {
	c := newConn(-1, p, o, network)
	c.sock = &stdSock{nc: nc}
	if o.handler != nil {
		c.sock.resume = make(chan struct{}, 1)
	}
	c.setNetPeer(nc.RemoteAddr())
	return c
}

// setNetPeer records a as c's remote address (before c is shared).
func (c *Conn) setNetPeer(a net.Addr) {
	switch a := a.(type) {
	case *net.TCPAddr:
		// Kept as Go's net reports it: four bytes for an IPv4 peer,
		// sixteen for one mapped into IPv6 (a dual-stack listener's).
		c.setPeer(sockaddr{ap: a.AddrPort()})
	default:
		c.setPeer(unixSockaddr(""))
	}
}

// registerStd adds c to p's registry and counters.
func (p *poller) registerStd(c *Conn) error {
	idx, _, err := p.reg.add(c)
	if err != nil {
		return err
	}
	c.slot = idx
	p.ctr.liveConns.Add(1)
	p.ctr.totalConns.Add(1)
	p.noteConnIdle(c)
	return nil
}

// startStd starts a registered connection: its handler loop, or its
// OnConnect hook when it has no handler. held says that the caller set
// hRunning when it made c (the runner starts with OnConnect, or a dial
// held it until connected) and hands that runner on. hRunning alone does
// not say so: a Close (a Shutdown's sweep) between the registration and
// this call starts a runner of its own for OnDisconnect (notifyDisconnect),
// and running it a second time delivered OnDisconnect twice, which left
// the hook count below zero and Shutdown waiting for it until its context
// ended.
func (c *Conn) startStd(held bool) {
	switch {
	case c.owner.handler != nil:
		go c.stdLoop(held)
	case held:
		c.dispatch()
	}
}

// stdLoop is the goroutine of a handler-mode connection: OnConnect when
// it holds the runner (see startStd), then read and run the handler
// until the connection ends.
func (c *Conn) stdLoop(held bool) {
	if held {
		c.run(0, false) // OnConnect, or OnDisconnect after an early close
	}
	// One reference for the loop's life, not one per message (two locked
	// instructions each): a close wakes the loop wherever it waits (its
	// read fails, stdClose resumes a pause), and stdFill, which looks at
	// the close first, ends it; the destroy waits for that decref.
	if !c.incref() {
		return
	}
	defer c.decref()
	s := c.sock
	s.bgReading.Store(true) // see stdBackgroundRead
	defer s.bgReading.Store(false)
	for {
		input, more := c.stdFill()
		if input && c.startRunner() {
			c.runLent()
		}
		// Under the loop's reference, as a poller handles an event under
		// its own: without it a Close on another goroutine could destroy
		// the connection (free its input, drop its account) between
		// settleIn's look at the input and its publication, and the
		// published bytes would stay in the budget's total for good.
		c.settleIn()
		if !more {
			return
		}
	}
}

// stdFill waits for room under the input bound, then reads once. It
// reports whether input (bytes, EOF or an error) arrived, and whether
// the loop goes on.
func (c *Conn) stdFill() (input, more bool) {
	var room int
	for {
		if c.fdst.closed() || c.flags.Load()&(fPeerEOF|fBroken) != 0 {
			return false, false
		}
		var byBudget bool
		if room, byBudget = c.inRoom(); room > 0 {
			break
		}
		if room = c.pause(byBudget); room > 0 {
			break
		}
		<-c.sock.resume
	}
	// The loop's read waits for as long as it takes: deadlines bound
	// readers' waits, not the arrival of input.
	n, err, yielded := c.stdBackgroundRead(room, true, false)
	// The loop runs the handler itself (stdLoop): a blocked reader on
	// another goroutine and an input registration are told, as onInput
	// tells them (the loop reads for NotifyInput too: see armInput).
	switch {
	case yielded:
		return false, true // a reader goes first
	case err == nil && c.flags.Load()&fPeerEOF == 0:
		notify(&c.rwait)
		if n > 0 {
			c.fireInput()
		}
		return n > 0, true
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, true // interrupted by a reader, or by SetReadDeadline
	}
	notify(&c.rwait)
	c.fireInput()
	return true, false
}

// maxStdReadSize caps BackendStd's adaptive read size below epoll's: a
// std connection's goroutine holds its read's buffer node while its
// handler waits in Flush for a peer that does not read, so the node size
// is what each such connection keeps (the budget bounds what is buffered,
// not the size of the nodes that hold it).
const maxStdReadSize = 16 << 10

// stdRead reads once from the socket into the inbound buffer, at most
// limit bytes (at least a small buffer's worth). io.EOF and socket
// errors are recorded in the flags (readers see them after the buffered
// input); a deadline error is returned as is. The caller holds rmu.
//
// With deferAcct (the handler loop's read) the bytes enter the buffer
// accounting only when the handler run ends or the handler first waits
// in upoll (settleIn): a handler that consumes them, the common case,
// then costs the shared counters nothing. Bytes so put off sit in the
// node that the loop holds anyway, booked, while it waits for input, so
// no connection holds more memory than an idle one for them.
func (c *Conn) stdRead(limit int, deferAcct bool) (int, error) {
	size := int(c.readSize)
	if size == 0 {
		size = minReadSize
	}
	size = min(size, max(limit, minReadSize))
	var arr [1][]byte
	vecs := c.in.Book(size, arr[:0])
	if len(vecs) == 0 {
		return 0, errClosed // buffer closed
	}
	buf := vecs[0]
	if len(buf) > size {
		buf = buf[:size]
	}
	m, err := c.sock.nc.Read(buf)
	err = unwrapOp(err)
	c.p.ctr.readCalls.Add(1)
	c.in.BookAck(m)
	if m > 0 {
		c.p.ctr.bytesIn.Add(uint64(m))
		if !deferAcct {
			c.accountIn()
		}
		c.touch()
		if m >= size && size < maxStdReadSize {
			c.readSize = uint32(size * 2)
		}
	}
	switch {
	case err == nil:
		return m, nil
	case err == io.EOF:
		c.flags.Or(fPeerEOF)
		return m, nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return m, err
	case c.fdst.closed():
		return m, errClosed
	}
	c.broke(err) // a handler-mode connection closes, as on epoll
	return m, err
}

// stdInputQueued reports whether c's socket holds input that its
// goroutine has not read yet (see Conn.inputQueued); false where the
// socket is no syscall.Conn or the system cannot tell (sysInputQueued).
func (c *Conn) stdInputQueued() bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	queued := false
	if rc.Control(func(fd uintptr) { queued = sysInputQueued(int(fd)) }) != nil {
		return false
	}
	return queued
}

// stdSetReadDeadline sets dl (clock.go; 0: none) as the socket's read
// deadline unless it already is. The caller holds rmu.
func (c *Conn) stdSetReadDeadline(dl int64) {
	if c.sock.rdl.Load() == dl {
		return
	}
	c.sock.rdl.Store(dl)
	c.sock.nc.SetReadDeadline(timeOfNs(dl))
}

// stdWaitRead is waitRead under BackendStd: the caller reads the socket
// itself until n bytes are buffered.
func (c *Conn) stdWaitRead(n int) error {
	c.settleIn()
	start := nowNs()
	c.flags.Or(fReaderWaiting)
	defer c.flags.And(^uint32(fReaderWaiting))
	for {
		if done, err := c.stdReadDone(n); done {
			return err
		}
		dl := deadlineOf(deadline(&c.rwait), c.readTimeout(), start)
		if passed(dl) {
			return c.opErr("read", errTimeout)
		}
		c.stdSetReadDeadline(dl)
		// Moved while it was being set, or a Close came: a lingering
		// close's wake-up (closeWith) set before dl would be undone.
		if deadlineOf(deadline(&c.rwait), c.readTimeout(), start) != dl || c.fdst.closed() {
			continue
		}
		if _, err := c.stdRead(n-c.in.Len(), false); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			if c.fdst.closed() {
				return c.opErr("read", errClosed)
			}
			c.flags.Or(fBrokenTold) // the socket reported it to this read
			return c.opErr("read", err)
		}
		if c.owner.handler != nil {
			c.consumedStd()
		}
	}
}

// stdReadDone is readDone under BackendStd, whose reader reads the
// socket itself. Once a call has reported what broke the connection (a
// Write, say: fBrokenTold), the socket still holds what it received
// before the reset and gives it first, then the end, as Go's read
// does: only the end that a read met (fPeerEOF) ends the wait then.
// An error no call has reported yet (the input watcher's read took it)
// is readDone's to report.
func (c *Conn) stdReadDone(n int) (bool, error) {
	if c.flags.Load()&(fBroken|fBrokenTold|fPeerEOF) != fBroken|fBrokenTold {
		return c.readDone(n)
	}
	if c.fdst.closed() {
		return true, c.opErr("read", errClosed)
	}
	return c.in.Len() >= n, nil
}

// consumedStd lets a handler loop paused at the bound go on once a
// reader drained (the loop itself may be the one waiting to read).
func (c *Conn) consumedStd() {
	if c.flags.Load()&fInPaused != 0 {
		c.resumeInput()
	}
}

// stdWakeReader makes a blocked read look at its deadline again: the
// new one may be earlier than the one set on the socket.
//
// The socket's deadline moves into the past before rdl is invalidated.
// In the other order a reader could re-arm between the two steps (it
// sees rdl invalid, stores its deadline and sets it on the socket), and
// the past deadline set after that would stay on the socket while rdl
// says the reader's deadline is there: every read would time out at
// once and stdSetReadDeadline would never fix it. In this order a
// reader that re-arms before rdl is invalidated reads once more, times
// out at once, and re-arms after.
func (c *Conn) stdWakeReader() {
	if c.flags.Load()&fReaderWaiting != 0 {
		c.stdInterruptRead()
	}
}

// stdInterruptRead makes a read blocked on the socket return at once
// (os.ErrDeadlineExceeded), in the order stdWakeReader explains.
func (c *Conn) stdInterruptRead() {
	c.sock.nc.SetReadDeadline(time.Unix(0, 1))
	c.sock.rdl.Store(-1)
}

// stdSend is drainOut under BackendStd: it writes until the queue is
// empty, on the caller's goroutine. The caller holds wmu.
func (c *Conn) stdSend(op string) error {
	c.settleIn()
	if c.out.Len() == 0 {
		return nil
	}
	if c.idleTimeout() > 0 {
		// A write that blocks waits for the peer: no activity of ours
		// (see checkIdle). What it sends touches the idle clock.
		c.touch()
		c.flags.Or(fWriterWaiting)
		defer c.flags.And(^uint32(fWriterWaiting))
	}
	if c.out.Len() >= stdAccountMin {
		// The budget sees large output while it waits for the peer,
		// as it sees the queue of a native connection.
		c.accountOut()
	}
	// wmu alone serializes the consumers of out here (no poller sends
	// it); emu is not taken: a failed write closes the connection
	// (broke), and the close takes emu.
	timed := c.stdWriteTimeout()
	if timed {
		defer c.stdAbsWriteDeadline()
	}
	for c.out.Len() > 0 {
		if c.fdst.closed() {
			return c.opErr(op, errClosed)
		}
		if c.flags.Load()&fBroken != 0 {
			return c.opErr(op, c.brokenErr("write"))
		}
		if c.flags.Load()&fPeerReadShut != 0 {
			c.dropOut() // never to be sent
			c.settleOut()
			return c.opErr(op, writeShutErr("write"))
		}
		var arr [maxVecs][]byte
		vecs := c.out.GetBytes(arr[:0])
		if len(vecs) == 0 {
			break
		}
		if c.idleTimeout() > 0 {
			vecs = capVecs(vecs, stdIdlePiece)
		}
		if timed {
			vecs = capVecs(vecs, c.writeStep())
		}
		m, err := c.stdWriteOut(vecs)
		if m > 0 {
			c.touch()
			if timed {
				c.stdWriteTimeout() // a step sent: the timeout counts again, as on epoll
			}
		}
		if err != nil {
			err = c.stdWriteErr(op, err)
			if c.flags.Load()&fPeerReadShut != 0 {
				c.dropOut() // never to be sent
			}
			c.settleOut()
			return err
		}
	}
	c.settleOut()
	return nil
}

// settleOut accounts the output after stdSend wrote. Small output, sent
// at once, was never accounted (stdAccountMin).
func (c *Conn) settleOut() { c.settle(32, &c.out) }

// stdWriteOut writes vecs, the head of the queued output, to the socket
// once, and drops from the queue what the socket took. The caller holds
// wmu.
func (c *Conn) stdWriteOut(vecs [][]byte) (int64, error) {
	var m int64
	var err error
	if len(vecs) == 1 {
		// The usual small message: write(2), and no net.Buffers
		// escaping to the heap per Flush.
		var n int
		n, err = c.sock.nc.Write(vecs[0])
		m = int64(n)
	} else {
		// A copy, so that the caller's array does not escape:
		// net.Buffers' WriteTo keeps its receiver on the heap.
		bufs := append(net.Buffers(nil), vecs...)
		m, err = bufs.WriteTo(c.sock.nc)
	}
	c.p.ctr.writeCalls.Add(1)
	if m > 0 {
		c.out.Skip(int(m))
		c.out.Release()
		c.p.ctr.bytesOut.Add(uint64(m))
	}
	return m, err
}

// stdAccountMin is the output above which stdSend accounts what it is
// about to write before it writes; smaller output is accounted after,
// as a message that the kernel takes at once costs no extra atomics.
const stdAccountMin = 16 << 10

// stdIdlePiece is the most that one socket write takes under BackendStd
// while an idle timeout is set. Go's Write returns only when all it was
// given is sent, and the bytes it sent count as activity only then: a
// slow peer that reads steadily must see its progress counted before
// the idle timeout passes.
const stdIdlePiece = 64 << 10

// stdWrite is Write's path to the socket under BackendStd when nothing
// is queued: straight from p, no copy. The caller holds wmu.
func (c *Conn) stdWrite(p []byte) (int, error) {
	c.settleIn()
	timed := c.stdWriteTimeout()
	if timed {
		defer c.stdAbsWriteDeadline()
	}
	piece := len(p)
	if timed {
		// Each step sent restarts the timeout, as each chunk of a
		// Write does on epoll.
		piece = c.writeStep()
	}
	if c.idleTimeout() > 0 {
		// As in stdSend: a write that blocks waits for the peer, and
		// each piece sent touches the idle clock.
		c.touch()
		c.flags.Or(fWriterWaiting)
		defer c.flags.And(^uint32(fWriterWaiting))
		piece = min(piece, stdIdlePiece)
	}
	n := 0
	for {
		m, err := c.sock.nc.Write(p[n:min(len(p), n+piece)])
		c.p.ctr.writeCalls.Add(1)
		if m > 0 {
			n += m
			c.p.ctr.bytesOut.Add(uint64(m))
			c.touch()
			if timed && n < len(p) {
				c.stdWriteTimeout()
			}
		}
		if err != nil {
			return n, c.stdWriteErr("write", err)
		}
		if n >= len(p) {
			return n, nil
		}
	}
}

// stdFlushDirect is Flush under BackendStd for a batch that nothing
// queued precedes (p, from Unflushed): Write's path from p, then the
// batch is dropped, or, when the write failed part way (a deadline, the
// peer gone), what it did not send stays queued as stdSend leaves it.
// The caller holds wmu and a reference.
func (c *Conn) stdFlushDirect(p []byte) error {
	n, err := c.stdWrite(p)
	if err != nil && c.flags.Load()&fPeerReadShut != 0 {
		c.endSentBatch(len(p)) // never to be sent: dropped, as if it had been
		return err
	}
	// wmu alone serializes the consumers of out here (see stdSend).
	if c.endSentBatch(n) && n < len(p) {
		c.settleOut()
	}
	return err
}

// stdReadFrom is ReadFrom under BackendStd: a reader that may be a file
// or a socket goes to the socket's own ReadFrom (Go's: sendfile, splice,
// or its copy), after the queued output; handled is false, and the
// caller copies, for any other reader, for what fails at once (as Write
// reports it; from a socket of Go's net it fails as Go's splice does,
// before anything is read), and while an idle timeout is set (Go's
// ReadFrom gives no progress to count as activity before it returns).
func (c *Conn) stdReadFrom(r io.Reader) (written int64, err error, handled bool) {
	rf, ok := c.sock.nc.(io.ReaderFrom)
	src := r
	if lr, limited := r.(*io.LimitedReader); limited {
		src = lr.R
	}
	if _, isConn := src.(syscall.Conn); !ok || !isConn {
		return 0, nil, false
	}
	if !c.beginReadFrom() {
		if goSocket(src) {
			// As Go's splice fails: before anything is read.
			if err := c.spliceWritable(); err != nil {
				return 0, err, true
			}
		}
		return 0, nil, false
	}
	defer (*connWriter)(c).end()
	if c.idleTimeout() > 0 {
		return 0, nil, false
	}
	// What was written before goes first, unflushed Writer bytes too.
	c.out.Disown()
	if err := c.flushOut(0, "write"); err != nil {
		return 0, err, true
	}
	if c.stdWriteTimeout() {
		defer c.stdAbsWriteDeadline()
		written, err = c.stdReadFromSteps(rf, r)
	} else {
		written, err = rf.ReadFrom(r)
	}
	if written > 0 {
		c.p.ctr.bytesOut.Add(uint64(written))
	}
	if err != nil {
		// Go's error is already a "readfrom" *net.OpError of this
		// socket: ReadFrom wraps what it wraps.
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "readfrom" {
			err = oe.Err
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = errTimeout
		case c.fdst.closed():
			err = errClosed
		default:
			var se *os.SyscallError
			if errors.As(err, &se) && (se.Syscall == "sendfile" || se.Syscall == "splice" || se.Syscall == "write") && c.stdSockFailed() && !c.peerReadShut(err) {
				c.brokeTold(err) // the socket failed, not only the source
			}
		}
	}
	return written, err, true
}

// stdReadFromSteps is Go's ReadFrom of r under a write timeout: a step
// (writeStep) at a time, the timeout counting again for each, as for
// each piece of a Write; one ReadFrom of the whole under a single
// deadline would cut a peer that reads steadily once the transfer takes
// longer than the timeout. A step that sends less than it may met r's
// end.
func (c *Conn) stdReadFromSteps(rf io.ReaderFrom, r io.Reader) (written int64, err error) {
	src, remain := r, int64(math.MaxInt64)
	if lr, limited := r.(*io.LimitedReader); limited {
		src, remain = lr.R, lr.N
		defer func() { lr.N = remain - written }()
	}
	step := int64(c.writeStep())
	for written < remain {
		if written > 0 {
			c.stdWriteTimeout()
		}
		piece := &io.LimitedReader{R: src, N: min(step, remain-written)}
		want := piece.N
		n, err := rf.ReadFrom(piece)
		written += n
		if err != nil || n < want {
			return written, err
		}
	}
	return written, nil
}

// stdWriteTimeout applies the write timeout, if any, to the socket for
// one write, and reports whether it did: stdAbsWriteDeadline must then
// put the absolute deadline back.
func (c *Conn) stdWriteTimeout() bool {
	timeout := c.writeTimeout()
	if timeout <= 0 {
		return false
	}
	c.stdSetWriteDeadline(timeout)
	return true
}

// stdAbsWriteDeadline sets the socket's write deadline to SetWriteDeadline's.
func (c *Conn) stdAbsWriteDeadline() { c.stdSetWriteDeadline(0) }

// stdSetWriteDeadline sets the socket's write deadline to
// SetWriteDeadline's, or with timeout > 0 to the earlier of that and
// timeout from now. Writers and the deadline setters (SetWriteDeadline,
// SetDeadline, SetWriteTimeout) all set it so, each after storing what
// it changes: a SetWriteDeadline that lands between another call's load
// of the absolute deadline and its set would be overwritten with the
// old one, and a deadline moved into the past to wake a blocked write
// lost. So the absolute deadline is looked at again after the set,
// which then either saw the new one or came before the other's set.
func (c *Conn) stdSetWriteDeadline(timeout time.Duration) {
	for {
		abs := deadline(&c.wwait)
		dl := abs
		if timeout > 0 {
			dl = deadlineOf(abs, timeout, nowNs())
		}
		c.sock.nc.SetWriteDeadline(timeOfNs(dl))
		if deadline(&c.wwait) == abs {
			return
		}
	}
}

// stdWriteErr maps a socket write error: a deadline is not fatal, a
// close is net.ErrClosed, anything else breaks the connection.
func (c *Conn) stdWriteErr(op string, err error) error {
	err = unwrapOp(err)
	switch {
	case c.fdst.closed():
		// Before the deadline: a lingering close interrupts a blocked
		// writer with one (stdLinger).
		return c.opErr(op, errClosed)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return c.opErr(op, errTimeout)
	case errors.Is(err, errBrokenPipe) && c.flags.Load()&fWrShut != 0:
		// A CloseWrite of another goroutine shut the socket down
		// (stdCloseWriteBusy): reading goes on.
		return c.opErr(op, err)
	case c.peerReadShut(err):
		// A Unix-domain peer reads no more: reading goes on, and Go's
		// writes fail with EPIPE from then on.
		return c.opErr(op, err)
	}
	c.brokeTold(err)
	return c.opErr(op, err)
}

// unwrapOp returns what Go's *net.OpError wraps (its *os.SyscallError,
// say), so that upoll's own OpError does not wrap a second one: errors
// keep the shape of Go's (read tcp A->B: read: connection reset by peer).
func unwrapOp(err error) error {
	if oe, ok := err.(*net.OpError); ok {
		return oe.Err
	}
	return err
}

// stdLinger is linger under BackendStd: output left queued by a Flush or
// Write that timed out is sent, on a goroutine of its own, for as long
// as linger allows, then the socket closes. A writer blocked on the
// socket when Close came returns at once (its write is interrupted, and
// it sees the close), then this one sends what is still queued.
func (c *Conn) stdLinger() {
	if !c.fdst.increfClosed() {
		return // the last reference is gone: so is the output
	}
	defer c.decref()
	defer c.finishClose()
	nc := c.sock.nc
	nc.SetWriteDeadline(time.Unix(1, 0))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	nc.SetWriteDeadline(time.Now().Add(c.lingerTime()))
	for c.out.Len() > 0 && c.flags.Load()&(fBroken|fLingerDone) == 0 {
		var arr [maxVecs][]byte
		vecs := c.out.GetBytes(arr[:0])
		if len(vecs) == 0 {
			return
		}
		if _, err := c.stdWriteOut(vecs); err != nil {
			return
		}
	}
}

// stdCloseWriteBusy is CloseWrite under BackendStd while a writer holds
// wmu, perhaps blocked in a write to a peer that does not read: as Go's
// CloseWrite, it shuts the socket down at once, and that write fails
// with EPIPE (stdWriteErr).
func (c *Conn) stdCloseWriteBusy() error {
	if !c.incref() {
		return c.opErr("close", errClosed)
	}
	defer c.decref()
	if f := c.flags.Or(fWrShut); f&fWrShut != 0 {
		return c.closeWriteAgain(f)
	}
	if err := c.stdShutdown(true); err != nil {
		c.flags.And(^uint32(fWrShut)) // not shut: see CloseWrite
		return c.opErr("close", err)
	}
	return nil
}

// stdShutdown shuts one direction of the socket, where it can be.
func (c *Conn) stdShutdown(write bool) error {
	type halfCloser interface {
		CloseRead() error
		CloseWrite() error
	}
	hc, ok := c.sock.nc.(halfCloser)
	if !ok {
		return ErrUnsupportedNetwork
	}
	// Go's error is a "close" *net.OpError of this socket already: the
	// callers wrap what it wraps.
	if write {
		return unwrapOp(hc.CloseWrite())
	}
	return unwrapOp(hc.CloseRead())
}

// stdClose closes the socket: blocked reads and writes return, and a
// paused handler loop wakes to see the close.
func (c *Conn) stdClose() {
	c.stdFINFirst()
	c.sock.nc.Close()
	if c.sock.resume != nil {
		c.stdResume()
	}
}

// stdFINFirst shuts a handler's socket's writing side down before Go's
// Close when its receive queue holds bytes, which make close(2) a
// reset: a handler's connection ends with a FIN whatever its handler
// left unread (see destroy).
func (c *Conn) stdFINFirst() {
	if c.owner.handler == nil || c.flags.Load()&(fBroken|fFileTaken|fPeerEOF) != 0 {
		return // after the peer's end the queue is empty (see destroy)
	}
	sc, ok := c.sock.nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	fin := false
	if rc.Control(func(fd uintptr) { fin = sysInputQueued(int(fd)) && !sysLingerZero(int(fd)) }) != nil || !fin {
		return
	}
	c.stdShutdown(true)
}

// stdResume wakes a paused handler loop.
func (c *Conn) stdResume() {
	select {
	case c.sock.resume <- struct{}{}:
	default:
	}
}

// errBackendMismatch reports a Listener served by a Server of the other
// backend.
var errBackendMismatch = errors.New("netpoll: the listener and the server use different backends")

// stdAccept accepts on ln until it is closed, serving each connection
// on s. Errors are handled as on epoll (acceptStepAfter): running out
// of descriptors backs off while pending connections wait in the
// kernel's backlog, and a failed socket ends the Serve.
func (s *Server) stdAccept(ln *Listener) error {
	var backoff time.Duration
	for {
		if !s.gate.reserve() {
			if err := s.stdWaitGate(ln, s.gate.shut); err != nil {
				return err
			}
			continue
		}
		nc, err := ln.nl.Accept()
		if err != nil {
			s.gate.release()
			if d, ok := ln.nl.(acceptDeadliner); ok && errors.Is(err, os.ErrDeadlineExceeded) {
				// Interrupted by PauseAccept (stdInterruptAccepts), which
				// set the deadline after it paused the gate: cleared
				// before the gate is looked at again, a later pause's
				// deadline is not lost.
				d.SetDeadline(time.Time{})
				continue
			}
			if s.closing.Load() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) || ln.isClosed() {
				return &net.OpError{Op: "accept", Net: ln.network, Addr: ln.addr, Err: net.ErrClosed}
			}
			switch acceptStepAfter(err) {
			case acceptNext:
				continue
			case acceptStop:
				return err // Go's net wrapped it already
			}
			backoff = min(max(backoff*2, minAcceptBackoff), maxAcceptBackoff)
			s.pollers[0].ctr.acceptBackoffs.Add(1)
			select {
			case <-time.After(backoff):
			case <-ln.closed:
			case <-s.done:
			}
			continue
		}
		backoff = 0
		if s.gate.isPaused() {
			// Paused while this Accept waited: the connection is
			// served, and read, only once accepting resumes.
			if err := s.stdWaitGate(ln, s.gate.isPaused); err != nil {
				nc.Close()
				s.gate.release()
				return err
			}
		}
		s.serveStd(nc, ln)
	}
}

// acceptDeadliner is a listener whose blocked Accept a deadline ends
// (*net.TCPListener and *net.UnixListener, what Listen and WrapListener
// give BackendStd).
type acceptDeadliner interface{ SetDeadline(time.Time) error }

// stdInterruptAccepts ends the Accepts that s's BackendStd accept loops
// are blocked in, with a deadline in the past, so that a connection that
// arrives during PauseAccept stays in the kernel's backlog instead of
// being taken by an Accept that began before the pause. The loops clear
// the deadline and wait for the gate (stdAccept). Called after the gate
// is paused: a loop that clears the deadline before it looks at the gate
// sees the pause, and one that looks before it is interrupted.
func (s *Server) stdInterruptAccepts() {
	s.mu.Lock()
	lns := append([]*Listener(nil), s.listeners...)
	s.mu.Unlock()
	for _, ln := range lns {
		if d, ok := ln.nl.(acceptDeadliner); ok {
			d.SetDeadline(time.Unix(0, 1))
		}
	}
}

// stdAcceptWait waits for ch to be closed, or returns the error that
// ends ln's Serve: ln closed, or s.
func (s *Server) stdAcceptWait(ln *Listener, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ln.closed:
		return &net.OpError{Op: "accept", Net: ln.network, Addr: ln.addr, Err: net.ErrClosed}
	case <-s.done:
		return ErrServerClosed
	}
}

// stdWaitGate waits while shut reports the accept gate shut (counted in
// AcceptPauses), or returns the error that ends ln's Serve.
func (s *Server) stdWaitGate(ln *Listener, shut func() bool) error {
	for counted := false; ; counted = true {
		open := s.gate.openCh()
		if !shut() {
			return nil
		}
		if !counted {
			s.pollers[0].ctr.acceptPauses.Add(1)
		}
		if err := s.stdAcceptWait(ln, open); err != nil {
			return err
		}
	}
}

// isClosed reports whether Close has been called.
func (ln *Listener) isClosed() bool {
	select {
	case <-ln.closed:
		return true
	default:
		return false
	}
}

// serveStd sets up an accepted connection under BackendStd.
func (s *Server) serveStd(nc net.Conn, ln *Listener) {
	p := s.pick(nil)
	c := newStdConn(nc, ln.network, p, &s.owner)
	if s.gate.max > 0 {
		c.flags.Or(fHeld)
	}
	if ln != nil && !ownLocalAddrs(ln.addr) {
		c.laddr = ln.box
	} else {
		c.laddr = &addrBox{nc.LocalAddr()}
	}
	hook := s.owner.cfg.OnConnect != nil
	if hook {
		c.flags.Or(fConnectHook | fHookAhead)
		c.hstate.Store(hRunning) // the runner starts with OnConnect
	}
	if err := s.admit(func() error { return p.registerStd(c) }); err != nil {
		// Counted before the close, which the peer may see at once.
		p.ctr.refused.Add(1)
		s.gate.release()
		nc.Close()
		return
	}
	if testHookStdRegistered != nil {
		testHookStdRegistered(c)
	}
	if hook {
		// Only the run that startStd begins calls OnConnect: counted
		// before it can start.
		s.gate.hookAccepted()
	}
	c.startStd(hook)
}

// testHookStdRegistered, when set by a test, runs between a std
// connection's registration and its start.
var testHookStdRegistered func(c *Conn)

// stdListen opens a listener on Go's net.
func (ln *Listener) stdListen(network, address string) error {
	nl, err := net.Listen(network, address)
	if err != nil {
		return err
	}
	ln.nl = nl
	ln.addr = nl.Addr()
	return nil
}

// stdWrap serves l under BackendStd: through a duplicate where the OS
// gives one (l and the Listener then close independently), else l itself.
func stdWrap(l net.Listener) net.Listener {
	if f, ok := l.(interface{ File() (*os.File, error) }); ok {
		if file, err := f.File(); err == nil {
			defer file.Close()
			if nl, err := net.FileListener(file); err == nil {
				return nl
			}
		}
	}
	return l
}

// stdDial dials with Go's net and registers the connection on g.
func (d *Dialer) stdDial(ctx context.Context, g *group, o *owner, network, addr string) (*Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrUnsupportedNetwork}
	}
	if s := d.Server; s != nil {
		// The group's Shutdown and Close end a dial still connecting,
		// as they end the native backends' (waitConnect): through the
		// context of Go's dial, which would otherwise wait for its own
		// deadline, or for the kernel to give up on the connect.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go func() {
			select {
			case <-s.done:
				cancel(ErrServerClosed)
			case <-ctx.Done():
			}
		}()
	}
	if network != "unix" {
		// Go's dial waits inside Go's net, for a name lookup and for the
		// connect, where no Conn call can hand the poller of a handler
		// that dials on its leader on (waitConnect does on the native
		// backends): hand it on before. A Unix-domain connect does not
		// wait.
		yieldHandlers()
	}
	nd := net.Dialer{KeepAlive: d.KeepAlive, Resolver: d.Resolver}
	if d.Server != nil {
		// A closed group's dial fails before each connect, which the
		// peer would see, as the native backends' does (dial); Go's net
		// names the address in its error.
		nd.ControlContext = func(context.Context, string, string, syscall.RawConn) error {
			if g.closing.Load() {
				return ErrServerClosed
			}
			return nil
		}
	}
	nc, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		if oe, ok := err.(*net.OpError); ok && context.Cause(ctx) == ErrServerClosed {
			return nil, &net.OpError{Op: oe.Op, Net: oe.Net, Source: oe.Source, Addr: oe.Addr, Err: ErrServerClosed}
		}
		// Go's net's error as it is (as the native backends report
		// it too), but for one thing: a connect that ctx's deadline
		// ends wraps the socket's deadline error,
		// os.ErrDeadlineExceeded, where that fires before ctx's
		// timer, and Go's own timeout error otherwise. The native
		// backends report the latter always, and so does this.
		if oe, ok := err.(*net.OpError); ok && oe.Err == os.ErrDeadlineExceeded {
			return nil, &net.OpError{Op: oe.Op, Net: oe.Net, Source: oe.Source, Addr: oe.Addr, Err: mapCtxErr(context.DeadlineExceeded)}
		}
		return nil, err
	}
	c := newStdConn(nc, network, g.pick(nil), o)
	c.laddr = &addrBox{nc.LocalAddr()}
	c.SetContext(d.Context)
	if o.holdsDialRunner() {
		if o.cfg.OnConnect != nil {
			c.flags.Or(fConnectHook)
		}
		c.hstate.Store(hRunning)
	}
	if err := g.admit(func() error { return c.p.registerStd(c) }); err != nil {
		nc.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: stdDialErrAddr(nc, addr), Err: err}
	}
	return c, nil
}

// stdDialErrAddr is the address that the error of a dial of addr names
// when the dial fails after nc connected: the peer, named as the native
// backends' connect names it (dialErrAddr).
func stdDialErrAddr(nc net.Conn, addr string) net.Addr {
	ra := nc.RemoteAddr()
	if ta, ok := ra.(*net.TCPAddr); ok {
		host, _, _ := net.SplitHostPort(addr)
		return dialErrAddr(ta.AddrPort(), host)
	}
	return ra
}

// settleIn accounts the handler loop's last read, which stdRead put
// off: at the end of each handler run, and before the handler waits for
// output room or more input (stdSend, stdWrite, stdWaitRead).
func (c *Conn) settleIn() { c.settle(0, &c.in) }

// settle accounts b's length (c's input at shift 0, its output at 32:
// see account) and resumes what its drop allows. The account is absolute, so no flag
// says whether anything is pending (one would cost a locked write to set
// and one to clear per message): the look at the length last accounted
// finds nothing to do in the common case, a handler that consumed its
// input and output sent at once, and spares the calls into account and
// drained.
func (c *Conn) settle(shift uint, b *buffer.LinkBuffer) {
	n := b.Len()
	if uint32(c.acct.Load()>>shift) == uint32(n) {
		return
	}
	c.drained(c.account(shift, n))
}
