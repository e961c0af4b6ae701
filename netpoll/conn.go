package netpoll

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/upoll/upoll/buffer"
)

// Conn is a connection served by a poller. *Conn implements net.Conn
// (blocking Read/Write with deadlines, for net/http and friends) and
// also offers a nocopy API through Reader and Writer.
//
// Reads: the poller reads the socket into the inbound buffer; Read,
// Reader().Next and friends consume from it and block only when it
// holds too little. Writes: Write and Writer().Flush write with writev
// on the caller's goroutine; whatever the kernel does not take is sent
// by the poller on EPOLLOUT.
//
// Its errors are *net.OpError as Go's net makes them, naming the network
// it was dialed on, or its listener opened on ("tcp4" and "tcp6" kept).
//
// Concurrent Reads (and Reader calls) are serialized, as are
// concurrent Writes (and Writer calls); a read and a write may run at
// the same time. Close may be called from any goroutine and wakes every
// blocked call.
//
// *Conn also has the socket options of *net.TCPConn (SetNoDelay,
// SetKeepAlive, SetKeepAliveConfig, SetLinger, SetReadBuffer, ...) and
// its SyscallConn, File and MultipathTCP, with Go's semantics and
// errors (sockopt.go, file.go).
type Conn struct {
	fd       int32
	slot     int32  // registry index (epoll_event.data.fd); its generation lives in the slot
	readSize uint32 // adaptive readv size; poller goroutine only
	// armed is the mask registered in epoll: written under emu, read
	// without it by updateEvents' look for a change (see there).
	armed  atomic.Uint32
	flags  atomic.Uint32
	hstate atomic.Uint32 // handler runner state, see dispatch.go

	fdst  fdState
	p     *poller
	owner *owner
	sock  *stdSock // BackendStd's socket; nil on a native backend

	rmu sync.Mutex // serializes readers (consumer side of in)
	wmu sync.Mutex // serializes writers (producer side of out)
	emu sync.Mutex // consumer side of out (writev) and epoll masks; let go through unlockEmu

	rwait, wwait atomic.Pointer[waiter]  // made on first block or deadline; hold the deadlines
	ext          atomic.Pointer[connExt] // rarely set state, copy-on-write
	lastActive   atomic.Int64            // the last I/O, on the package's clock (clock.go)

	acct atomic.Uint64 // buffered lengths last counted: input low 32 bits, output high (see account)

	ctx   *any     // SetContext's value, boxed: a Conn that has none saves a word
	laddr *addrBox // shared with the listener when it has a fixed address
	raddr peerAddr

	in, out buffer.LinkBuffer
}

// A Conn's state lives in four words, each with one job:
//
//	fdst    the descriptor's lifetime: closed bit and references
//	        (fdstate.go, with the close path drawn out)
//	hstate  whether a handler runner is scheduled or running, and
//	        whether OnDisconnect is due (dispatch.go)
//	flags   the bits below: what happened to the socket and what the
//	        connection is doing about it
//	ext     the errno that broke the connection (connExt.errno), set
//	        once before fBroken
//
// flags bits. Every bit is set and cleared with atomic Or/And (or a CAS
// loop), never by storing the whole word, except newConn's initial
// Store before the Conn is shared. "Sticky" bits are never cleared once
// set. Who may write each:
//
//	bit             means                           set by            cleared by
//	fRegistered     in epoll, not yet deleted       poller.register   deregister (under emu), or register
//	                                                (under emu,       when EPOLL_CTL_ADD fails
//	                                                before the ADD)
//	fPeerEOF        no more input will come: the    fill (read got 0) sticky
//	                peer shut its write side, or    CloseRead
//	                CloseRead shut ours
//	fBroken         a socket call failed; errno     setBroken: the    sticky
//	                in ext (set first)              poller, or a
//	                                                writer's writev
//	fWrShut         CloseWrite done                 CloseWrite (wmu)  CloseWrite, when its
//	                                                                  shutdown fails; else sticky
//	fInPaused       input bound reached, reading    fill (poller)     fill when the bound was
//	                stopped until a reader drains                     not reached after all;
//	                                                                  resumeInput (a reader)
//	fConnecting     nonblocking connect in flight   dial, before the  onEvent on EPOLLOUT,
//	                                                Conn is shared    EPOLLERR or EPOLLHUP
//	fReaderWaiting  a reader is blocked for input   waitRead (rmu)    waitRead, when it returns
//	fConnectHook    OnConnect has not run yet       serveConn, before run, before it calls
//	                                                registering       OnConnect
//	fLinger         closed with output queued: the  linger (closeWith) sticky
//	                poller keeps sending it
//	fLingerDone     finishClose has run (it runs    finishClose (CAS) sticky
//	                once, lingering or not)
//	fUnix           AF_UNIX socket                  newConn           never
//	fTCP4, fTCP6    dialed or listened on "tcp4",   newConn           never
//	                "tcp6" (see Network)
//
// A bit that the poller reads to choose the epoll mask (wantEvents) is
// followed, by whoever changes it, by updateEvents, so that the last
// change wins.
const (
	fRegistered    = 1 << iota // added to epoll and not yet deleted
	fPeerEOF                   // read returned 0: the peer shut its write side
	fBroken                    // a read or write failed (errno in ext)
	fWrShut                    // CloseWrite done
	fInPaused                  // input bound reached: reading stopped
	fConnecting                // nonblocking connect in progress
	fReaderWaiting             // a reader is blocked for input
	fConnectHook               // OnConnect not yet run
	fLinger                    // closed, the poller is sending the rest
	fLingerDone                // the lingering close has finished
	fUnix                      // AF_UNIX socket
)

// timeouts are a connection's own read/write/idle timeouts.
type timeouts struct {
	read, write, idle time.Duration
}

// connExt holds what few connections need, out of line so that idle
// connections stay small: timeouts set by SetReadTimeout and friends
// (own=false: the owner's configuration), the reason of the close, and
// an IPv6 peer's address or a Unix-domain peer's name.
type connExt struct {
	tmo      timeouts
	own      bool
	reason   error
	ip6      [16]byte // the IPv6 peer address (see peerAddr)
	zone     string   // its zone, for a link-local one
	unixPeer string   // the Unix-domain peer's name (see peerAddr)
	errno    int32    // what broke the connection (errnoOf), set before fBroken
}

// addrBox holds a net.Addr behind one pointer (8 bytes in Conn instead
// of an interface's 16); accepted connections share their listener's.
type addrBox struct{ net.Addr }

// updateExt applies f to a copy of the extension and publishes it.
func (c *Conn) updateExt(f func(e *connExt)) {
	for {
		old := c.ext.Load()
		var e connExt
		if old != nil {
			e = *old
		}
		f(&e)
		if c.ext.CompareAndSwap(old, &e) {
			return
		}
	}
}

func (c *Conn) timeouts() timeouts {
	if e := c.ext.Load(); e != nil && e.own {
		return e.tmo
	}
	cfg := &c.owner.cfg
	return timeouts{cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout}
}

// owner is what connections of one server (or one dialer) share.
type owner struct {
	cfg     config
	handler Handler
	budget  *budget // nil: no buffer budget (dialed connections with options)
	// gate is a Server's (nil for a Dialer's own group): an accepted
	// connection holds a place of its limit until destroyed (fHeld).
	gate *acceptGate
	// hooks counts OnDisconnect calls that are due (notifyDisconnect
	// set hDisc) and have not returned: Shutdown waits for them, since
	// a connection's count goes before its hook runs.
	hooks atomic.Int64
}

// Handler processes input of a connection. It runs when input arrives;
// handlers of one connection never overlap and see input in order. A
// handler that returns an error or panics closes its connection. Once
// the peer has shut down its side, the handler runs again while it
// consumes input: the connection is closed (its queued output still
// sent) when a run leaves nothing buffered, or when a run given every
// byte the peer sent consumed none of it.
type Handler func(c *Conn) error

// lingerTimeout bounds how long a closed connection keeps sending the
// output that was queued when Close was called (unless the write
// timeout is shorter).
const lingerTimeout = 5 * time.Second

// newConn makes the Conn of fd, a socket of network ("tcp", "tcp4",
// "tcp6" or "unix": what it was dialed or listened on).
func newConn(fd int, p *poller, o *owner, network string) *Conn {
	c := &Conn{fd: int32(fd), p: p, owner: o}
	c.fdst.init()
	if f := networkFlags(network); f != 0 {
		c.flags.Store(f)
	}
	c.lastActive.Store(nowNs())
	return c
}

func (c *Conn) readTimeout() time.Duration  { return c.timeouts().read }
func (c *Conn) writeTimeout() time.Duration { return c.timeouts().write }
func (c *Conn) idleTimeout() time.Duration  { return c.timeouts().idle }

// setTimeouts updates one of the per-connection timeouts; it reports
// false, changing nothing, on a zero Conn (no owner).
func (c *Conn) setTimeouts(f func(t *timeouts)) bool {
	if c.owner == nil {
		return false
	}
	cur := c.timeouts()
	c.updateExt(func(e *connExt) {
		if !e.own {
			e.tmo, e.own = cur, true
		}
		f(&e.tmo)
	})
	return true
}

// negativeTimeout is the error of a timeout setter given d < 0, which
// changes nothing: as for WithReadTimeout, a negative timeout is a
// configuration error (for a deadline already past, use SetReadDeadline).
func (c *Conn) negativeTimeout(d time.Duration) error {
	return c.opErr("set", fmt.Errorf("%w: negative timeout %v", ErrBadConfig, d))
}

// SetReadTimeout bounds each blocking read wait (Read, Reader calls)
// to d; 0 means none, a negative d is an error wrapping ErrBadConfig.
// An absolute deadline (SetReadDeadline) also applies; the earlier wins.
// It applies to a read already blocked (counted from its start).
func (c *Conn) SetReadTimeout(d time.Duration) error {
	if d < 0 {
		return c.negativeTimeout(d)
	}
	if !c.setTimeouts(func(t *timeouts) { t.read = d }) {
		return c.opErr("set", errClosed)
	}
	notify(&c.rwait)
	if c.sock != nil {
		c.stdWakeReader()
	}
	return nil
}

// SetWriteTimeout bounds each blocking write wait (Write, Flush) to d;
// 0 means none, a negative d is an error wrapping ErrBadConfig. A wait
// counts again once MaxOutput bytes have gone out since it began (a
// chunk of a Write), so a peer that reads steadily is not cut because
// the whole call takes longer than d. It applies to a call already
// blocked.
func (c *Conn) SetWriteTimeout(d time.Duration) error {
	if d < 0 {
		return c.negativeTimeout(d)
	}
	if !c.setTimeouts(func(t *timeouts) { t.write = d }) {
		return c.opErr("set", errClosed)
	}
	notify(&c.wwait)
	if c.sock != nil {
		// A write blocked in the socket sees only the socket's
		// deadline: the new bound counts from now there.
		c.stdSetWriteDeadline(d)
	}
	return nil
}

// touch records I/O for the idle timeout. Without one it skips the
// clock read (a few percent of the CPU per message of a small echo):
// SetIdleTimeout stamps the connection when it turns the timeout on.
func (c *Conn) touch() {
	if c.idleTimeout() > 0 {
		c.lastActive.Store(nowNs())
	}
}

// SetIdleTimeout closes the connection after d without I/O; 0: never.
// The check runs on the poller at a quarter of the smallest idle
// timeout (within [1ms, 1s]), so the close comes between d and d plus
// that period.
func (c *Conn) SetIdleTimeout(d time.Duration) error {
	if d < 0 {
		return c.negativeTimeout(d)
	}
	if !c.setTimeouts(func(t *timeouts) { t.idle = d }) {
		return c.opErr("set", errClosed)
	}
	c.lastActive.Store(nowNs())
	if d > 0 {
		c.p.noteIdle(d)
	}
	return nil
}

// Context returns the value set by SetContext.
func (c *Conn) Context() any {
	if c.ctx == nil {
		return nil
	}
	return *c.ctx
}

// SetContext attaches per-connection state, typically in OnConnect.
// It is not synchronized: set it before other goroutines read it (the
// OnConnect hook runs before every handler of the connection).
func (c *Conn) SetContext(v any) {
	if v == nil {
		c.ctx = nil
		return
	}
	c.ctx = &v
}

// IsActive reports whether the connection is open: not closed locally,
// not broken, and not shut down by the peer with all input consumed.
func (c *Conn) IsActive() bool {
	if c.fdst.closed() {
		return false
	}
	f := c.flags.Load()
	if f&fBroken != 0 {
		return false
	}
	return f&fPeerEOF == 0 || c.in.Len() > 0
}

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr {
	if c.laddr == nil {
		return nil
	}
	return c.laddr.Addr
}

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr {
	if c.raddr.kind() == addrUnix {
		if c.sock != nil {
			return c.sock.nc.RemoteAddr()
		}
		return &net.UnixAddr{Name: c.unixPeerName(), Net: "unix"}
	}
	return c.peerNetAddr()
}

// fTCP4 and fTCP6 record that a connection was dialed, or accepted by a
// listener opened, on network "tcp4" or "tcp6": its errors name that
// network, as Go's net does (see Network). Neither (nor fUnix): "tcp".
const (
	fTCP4 = fUnix << 8
	fTCP6 = fUnix << 9
)

// networkFlags returns the flags bits that record network.
func networkFlags(network string) uint32 {
	switch network {
	case "unix":
		return fUnix
	case "tcp4":
		return fTCP4
	case "tcp6":
		return fTCP6
	}
	return 0
}

// Network returns the network c was dialed on, or its listener opened
// on: "tcp", "tcp4", "tcp6" or "unix", what its errors' *net.OpError
// name (Go's net.Conn keeps it only there). A connection of a
// WrapListener's listener says "tcp" or "unix".
func (c *Conn) Network() string {
	switch f := c.flags.Load(); {
	case f&fUnix != 0:
		return "unix"
	case f&fTCP4 != 0:
		return "tcp4"
	case f&fTCP6 != 0:
		return "tcp6"
	}
	return "tcp"
}

// opErr wraps err with the operation, the network the connection was
// dialed or listened on and its addresses, as Go's net does.
// The deadline error is returned as a *net.OpError at the top level:
// net/http type-asserts net.Error on it.
func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

func (c *Conn) incref() bool { return c.fdst.incref() }

func (c *Conn) decref() {
	if c.fdst.decref() {
		c.destroy()
	}
}

// Close closes the connection. Blocked Read/Write/Reader/Flush calls in
// other goroutines return an error that satisfies errors.Is(err,
// net.ErrClosed). Output still queued (a Flush that returned below
// MaxOutput) is sent by the poller for up to 5 s (or the write timeout,
// if shorter) before the socket closes; input not yet read is dropped.
// On a connection without a handler (used as a net.Conn), input that
// arrived and was not read makes the close a reset, as the kernel makes
// Go's: the peer's next read fails with ECONNRESET rather than seeing
// the end. Not on a Unix socket under the epoll and io_uring backends,
// whose poller reads input ahead of Read: the kernel resets a Unix
// stream's peer only for input still in the socket, so the peer sees
// the end where Go's sees ECONNRESET. Without unread input the end
// (FIN) is sent at Close, as Go's close(2) sends it, even where the
// descriptor itself closes later. A handler's connection ends with a
// FIN whatever its handler left unread.
func (c *Conn) Close() error {
	if !c.closeWith(nil) {
		return c.opErr("close", errClosed)
	}
	return nil
}

// closeWith runs the close once and reports whether this call did.
// reason reaches OnDisconnect.
func (c *Conn) closeWith(reason error) bool {
	if !c.fdst.markClosed() {
		return false
	}
	// A reference of its own (the open one is still held: this cannot
	// fail), so that the connection is destroyed, and leaves the live
	// count, only after notifyDisconnect has counted its OnDisconnect as
	// due: in between, Shutdown would find no connection and no hook due,
	// and return before the hook ran.
	c.fdst.increfClosed()
	defer c.decref()
	if reason != nil {
		c.updateExt(func(e *connExt) { e.reason = reason })
	}
	notify(&c.rwait)
	notify(&c.wwait)
	if c.flags.Load()&fOutBlocked != 0 {
		c.wakeRelays() // their writes to c now fail at once
	}
	c.dropInput()
	// An idle close does not linger: output still queued then is output
	// the peer has taken none of for the idle timeout.
	switch {
	case c.out.Len() == 0 || reason == ErrIdleTimeout:
		c.endNow()
		c.finishClose()
	case c.flags.Load()&(fBroken|fRegistered) == fRegistered:
		c.linger()
	case c.sock != nil && c.flags.Load()&fBroken == 0:
		// BackendStd: no poller sends the rest. The socket stays open
		// while it is sent: a read blocked in it is woken here, as
		// the close of the socket would wake it (see stdWaitRead).
		c.stdInterruptRead()
		go c.stdLinger()
	default:
		c.finishClose()
	}
	c.notifyDisconnect()
	return true
}

// endNow sends a net.Conn's FIN at its Close, as Go's close(2) does,
// unless close(2) is to reset the connection: input left unread
// (destroy then resets it) or SetLinger(0). The socket itself closes
// at its last reference, after the OnDisconnect hooks, the
// deregistration and any call still inside it (under io_uring, once
// the kernel's pending requests end): input that the peer sent
// meanwhile, having read what was written before Close, made that
// close a reset with no FIN before it, and the peer's read failed with
// ECONNRESET where Go's peer reads io.EOF. A handler's connection,
// which no unread input resets, BackendStd's, which Go's net closes,
// and one whose File lives on (fFileTaken) are left as they are.
func (c *Conn) endNow() {
	// After the peer's end (fPeerEOF) nothing more can arrive to reset
	// the close: the FIN may wait for close(2), and the look costs no
	// system call.
	if c.sock != nil || c.owner.handler != nil || c.flags.Load()&(fBroken|fConnecting|fFileTaken|fPeerEOF) != 0 {
		return
	}
	if !c.wmu.TryLock() {
		// A write is in progress: it is to fail as closed, not with
		// the shutdown's EPIPE; its output makes the close linger.
		return
	}
	defer c.wmu.Unlock()
	// The pollset's look: under io_uring, input its receive took from
	// the socket counts too (deregister then resets the close).
	if c.out.Len() > 0 || c.in.Len() > 0 || c.p.ep.inputQueued(int(c.fd)) || sysLingerZero(int(c.fd)) {
		return
	}
	sysShutdownWrite(int(c.fd))
}

// linger keeps the socket until the poller has sent the queued output
// (finishClose is then called by pollFlush) or the linger time passes.
func (c *Conn) linger() {
	c.flags.Or(fLinger)
	c.updateEvents()
	time.AfterFunc(c.lingerTime(), c.finishClose)
	// A turn on the poller's flush queue: edge-triggered (and under
	// io_uring) no event need come, for output that no write has tried
	// yet leaves the socket writable with no edge to come, as when a
	// FlushAsync's turn saw the close before fLinger and let it be.
	c.p.queueFlush(c)
	if c.out.Len() == 0 {
		c.finishClose()
	}
}

// lingerTime is how long a close lingers: lingerTimeout, or the write
// timeout when that is shorter.
func (c *Conn) lingerTime() time.Duration {
	if wt := c.writeTimeout(); wt > 0 && wt < lingerTimeout {
		return wt
	}
	return lingerTimeout
}

// outSent does what waits for the queued output to be gone: a CloseWrite's
// shutdown (fShutPending) and a lingering close, which finishes once the
// output is sent or can no longer be. Every sender calls it after writing
// (pollFlush, flushOut, a ring send's completion), with a reference.
// linger and CloseWrite set their flag and then look at out once, and a
// sender that was already inside writeOut may empty out after that look;
// its mask then wants no EPOLLOUT (nothing queued), and no event would
// come. The flag's setter stores it then loads out's length; a sender
// empties out then loads the flags: one of the two sees the other's store.
func (c *Conn) outSent() {
	f := c.flags.Load()
	if f&(fLinger|fShutPending|fOutBlocked) == 0 {
		return
	}
	if f&fOutBlocked != 0 && c.out.Len() <= c.owner.cfg.MaxOutput {
		c.p.resumeLater(c)
	}
	if f&fShutPending != 0 && c.out.Len() == 0 {
		c.shutdownWrite()
	}
	if f&fLinger != 0 && (c.out.Len() == 0 || f&fBroken != 0) {
		c.finishClose()
	}
}

// fShutPending marks a CloseWrite whose shutdown(SHUT_WR) waits for the
// queued output to be sent: the sender that empties out shuts the
// writing side down (outSent). Cleared by the one that does.
const fShutPending = fUnix << 6

// shutdownWrite shuts the writing side down for a pending CloseWrite,
// once. The caller holds a reference. An error has nobody to go to: the
// connection is not writable any more, and a broken socket shows on
// the reading side.
func (c *Conn) shutdownWrite() {
	for {
		f := c.flags.Load()
		if f&fShutPending == 0 {
			return
		}
		if c.flags.CompareAndSwap(f, f&^fShutPending) {
			break
		}
	}
	sysShutdownWrite(int(c.fd))
}

// finishClose removes the registration and drops the open reference;
// the last reference closes the fd. It runs once.
func (c *Conn) finishClose() {
	for {
		f := c.flags.Load()
		if f&fLingerDone != 0 {
			return
		}
		if c.flags.CompareAndSwap(f, f|fLingerDone) {
			break
		}
	}
	c.deregister()
	if c.sock != nil {
		c.stdClose()
	}
	c.decref()
}

// deregister deletes the epoll registration (once); later events for
// the slot are impossible, and queued ones are stale.
func (c *Conn) deregister() {
	c.emu.Lock()
	defer c.unlockEmu()
	if c.flags.Load()&fRegistered == 0 {
		return
	}
	c.flags.And(^uint32(fRegistered))
	if c.owner.handler == nil && c.fdst.closed() && c.flags.Load()&fBroken == 0 && c.p.ep.heldInput(int(c.fd)) {
		// A net.Conn closed with input that io_uring's receive took
		// from the socket and nobody read: it goes with the
		// registration, and close(2) would find the socket's queue
		// empty and end with a FIN. A reset, as destroy makes of a
		// close with unread input in the buffer.
		sysSetLinger(int(c.fd), 0)
	}
	c.p.ep.del(int(c.fd))
}

// destroy runs when the last reference is dropped after Close: no
// goroutine can be inside a syscall on the fd or inside a buffer call.
func (c *Conn) destroy() {
	if c.sock == nil {
		if c.owner.handler == nil && c.in.Len() > 0 && c.flags.Load()&fBroken == 0 {
			// A net.Conn closed with input nobody read: close(2) resets
			// the connection when its receive queue holds bytes, and
			// these were read ahead from it. The peer sees the reset,
			// as with Go's Close. (A handler's input is the handler's
			// contract, not the kernel's.)
			sysSetLinger(int(c.fd), 0)
		} else if c.owner.handler != nil && c.flags.Load()&(fBroken|fFileTaken|fPeerEOF) == 0 && sysInputQueued(int(c.fd)) && !sysLingerZero(int(c.fd)) {
			// A handler's connection ends with a FIN whatever its
			// handler left unread (see Close); close(2) resets one
			// whose receive queue holds bytes, so the FIN goes first
			// and the peer reads the end before the reset. After the
			// peer's end (fPeerEOF, a churn's common close) the queue
			// is empty, and the look is spared.
			sysShutdownWrite(int(c.fd))
		}
		sysClose(int(c.fd))
	}
	if c.p != nil {
		c.p.reg.remove(c.slot)
	}
	if c.flags.Load()&fHeld != 0 {
		c.owner.gate.release()
	}
	// No reference is left, so no reader, writer or poller can be inside
	// a buffer call: Free also returns a Book that a failed call left
	// open, which Close would have to leave alone. The output is only
	// closed: a writer outside any call may still hold slices of its open
	// batch (Malloc'd, not yet flushed; a Close from another goroutine
	// can come between Malloc and Flush), and nodes given back to the
	// pool would be filled by it while another connection sends them.
	// Close leaves the batch to that writer's Flush, which frees it, or
	// to the garbage collector.
	c.in.Free()
	c.out.Close()
	c.dropBuffered()
	if c.p != nil {
		// Last: a count of live connections that reached zero says
		// their buffers are out of the counters too (Stats, Shutdown).
		c.countDead()
	}
}

// fDead marks a connection that LiveConns no longer counts: set by the
// first of destroy and a failed dial's close (closeUnstarted), which
// counts it off.
const fDead = fUnix << 18

// countDead takes c off LiveConns, once.
func (c *Conn) countDead() {
	if c.flags.Or(fDead)&fDead == 0 {
		c.p.ctr.liveConns.Add(-1)
	}
}

// closeReason is the error reported to OnDisconnect.
func (c *Conn) closeReason() error {
	if e := c.ext.Load(); e != nil {
		return e.reason
	}
	return nil
}

// checkIdle closes c if it has had no I/O for its idle timeout. Runs
// on the poller goroutine.
func (c *Conn) checkIdle(now int64) {
	d := c.idleTimeout()
	if d <= 0 || c.fdst.closed() {
		return
	}
	if c.flags.Load()&fConnecting != 0 {
		// A dial still connecting is not idle: the dial's own deadline
		// bounds it, as Go's net.Dialer's does (an idle timeout shorter
		// than the handshake failed the dial with ErrIdleTimeout).
		return
	}
	if c.owner.handler != nil && c.hstate.Load()&hRunning != 0 &&
		c.flags.Load()&(fReaderWaiting|fWriterWaiting) == 0 {
		return // a running handler is activity, unless it waits for the peer
	}
	if now-c.lastActive.Load() < int64(d) {
		return
	}
	c.closeWith(ErrIdleTimeout)
}
