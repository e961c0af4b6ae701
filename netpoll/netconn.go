package netpoll

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/upoll/upoll/buffer"
)

var _ net.Conn = (*Conn)(nil)

// Read reads buffered input into p, blocking until some is there. It
// returns exactly io.EOF once the peer has shut down and every byte it
// sent was read; a deadline or read timeout gives a *net.OpError whose
// Err is os.ErrDeadlineExceeded; after Close, an error satisfying
// errors.Is(err, net.ErrClosed). It releases what it read, and with it
// any slice the Reader returned before (Reader.Release).
func (c *Conn) Read(p []byte) (int, error) {
	if err := c.lockRead(); err != nil {
		return 0, err
	}
	defer c.unlockRead()
	if !c.incref() {
		return 0, c.opErr("read", errClosed)
	}
	defer c.decref()
	if len(p) == 0 {
		return 0, nil // before the deadline, as internal/poll does
	}
	if c.readDeadlinePassed() {
		return 0, c.opErr("read", errTimeout)
	}
	if c.in.Len() == 0 && len(p) > c.owner.cfg.MaxInput {
		// The poller may read as much as this Read will take.
		w := waiterOf(&c.rwait)
		w.need.Store(int32(min(len(p), 1<<30)))
		defer w.need.Store(0)
	}
	if err := c.waitRead(1); err != nil {
		return 0, err
	}
	n, _ := c.in.Read(p)
	c.in.Release() // also invalidates the Reader's earlier slices (see Reader)
	c.consumed()
	return n, nil
}

// Write writes p and returns when all of it is in the kernel (or the
// write deadline/timeout passes, or the connection fails), as Go's
// net.Conn does: Close right after Write loses nothing.
//
// What the kernel refuses waits in the outbound buffer, at most
// MaxOutput of it at a time. When the deadline passes, the returned n
// counts the bytes of p that will go out: those the kernel took and
// those left waiting, which the poller sends ahead of any later write
// (or Close's linger does; under BackendStd, which has no poller, the
// next write or Flush does). A caller that retries with p[n:] thus
// sends every byte once. When the connection fails, n counts only what
// the kernel took.
//
// Bytes written through the Writer and not yet flushed were written
// before p: Write sends them first, as a Flush would.
//
// On a Unix-domain connection without a handler, a write that fails
// with EPIPE (the peer shut its reading side down, which reaches this
// socket, or closed) ends only the writing, as on Go's *net.UnixConn:
// later writes fail with EPIPE, output still queued is dropped, and
// reading goes on to the peer's end.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.lockWrite(); err != nil {
		return 0, err
	}
	defer c.wmu.Unlock()
	if !c.incref() {
		return 0, c.opErr("write", errClosed)
	}
	defer c.decref()
	return c.write(p)
}

// write is Write's body, the caller holding wmu and a reference. Apart
// so that Write's two defers are open-coded: the compiler gives that up
// when returns times defers exceed 15, and Write with its many returns
// then paid the runtime's general deferreturn (about 250 instructions
// per call, a stack unwind included).
func (c *Conn) write(p []byte) (int, error) {
	if err := c.writable("write"); err != nil {
		return 0, err
	}
	n := 0
	// p goes straight to the kernel only when nothing is queued nor
	// written through the Writer and not yet flushed: those bytes were
	// written first, and Write sends them ahead of p.
	direct := c.out.Len() == 0 && c.out.MallocLen() == 0
	if c.sock != nil && direct {
		return c.stdWrite(p)
	}
	if direct {
		// Fast path: straight to the kernel, no copy.
		for n < len(p) {
			m, err := sysWrite(int(c.fd), p[n:])
			c.p.ctr.writeCalls.Add(1)
			if m > 0 {
				n += m
				c.p.ctr.bytesOut.Add(uint64(m))
			}
			if err == errAgain {
				c.p.ctr.writeEAGAIN.Add(1)
				break
			}
			if err != nil {
				if c.fdst.closed() {
					// A Close on another goroutine shut the socket
					// down under this write (EPIPE): it fails as a
					// write on a closed connection, as Go's does.
					return n, c.opErr("write", errClosed)
				}
				err = os.NewSyscallError("write", err)
				if !c.peerReadShut(err) {
					c.brokeTold(err)
				}
				return n, c.opErr("write", err)
			}
		}
		if n == len(p) {
			c.touch()
			return n, nil
		}
	}
	// What the kernel refused goes through the outbound buffer a chunk
	// of at most MaxOutput at a time, each sent before the next is
	// copied: a large p to a peer that does not read costs the bound, not
	// a copy of p (and a peer's reset is seen after one chunk, not after
	// copying all of p).
	step := c.writeStep()
	c.out.Disown() // a Writer's open batch goes first, its builder may still hold its slices
	for n < len(p) {
		if c.flags.Load()&fShutAsked != 0 {
			if c.fdst.closed() {
				// A Close came first: the write fails as closed,
				// as in drainOutWait, which looks at it first too.
				return n, c.opErr("write", errClosed)
			}
			return n, c.opErr("write", shutAskedErr("write"))
		}
		chunk := p[n:min(len(p), n+step)]
		if c.out.Len() > 0 {
			// Room for chunk first: what an earlier Write left queued
			// when its deadline passed counts against MaxOutput. On a
			// timeout here nothing of chunk is queued.
			if err := c.drainOut(max(c.owner.cfg.MaxOutput-len(chunk), 0), "write"); err != nil {
				return n, err
			}
		}
		if _, err := c.out.WriteBinary(chunk); err != nil {
			if err == buffer.ErrClosed {
				err = errClosed
			}
			return n, c.opErr("write", err)
		}
		if err := c.flushOut(0, "write"); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || err == ErrWouldBlock || c.lingers() || c.flags.Load()&fShutAsked != 0 {
				// The rest of chunk stays queued and goes out (or the
				// Close or CloseWrite that came meanwhile sends it).
				return n + len(chunk), err
			}
			return n + len(chunk) - min(c.out.Len(), len(chunk)), err
		}
		n += len(chunk)
	}
	return n, nil
}

// writeStep is the output that one wait of a write timeout covers: a
// chunk of a Write, or that much of a Flush sent.
func (c *Conn) writeStep() int { return min(max(c.owner.cfg.MaxOutput, 1), buffer.MaxBatch) }

// lingers reports whether a Close has come and sends what is queued as
// it lingers: the test closeWith makes, which holds from the close on
// for output that was queued then (the queue only shrinks after it: a
// writer holds wmu).
func (c *Conn) lingers() bool {
	return c.fdst.closed() && c.out.Len() > 0 && c.flags.Load()&(fBroken|fPeerReadShut|fRegistered) == fRegistered
}

// writable checks what makes any write fail at once. A passed write
// deadline comes first, as in Go's net, whose write checks it before the
// system call: the socket's error is left for the next write. A
// connection that broke fails it with what Go's write would return
// (writeBrokenErr), an empty write included: Go's makes the system
// call, which reports the socket's error.
func (c *Conn) writable(op string) error {
	if passed(deadline(&c.wwait)) {
		return c.opErr(op, errTimeout)
	}
	f := c.flags.Load()
	if f&fWrShut != 0 {
		return c.opErr(op, ErrWriteShutdown)
	}
	if f&fBroken != 0 && c.sock == nil {
		return c.opErr(op, c.writeBrokenErr("write"))
	}
	if f&fPeerReadShut != 0 && c.sock == nil {
		return c.opErr(op, writeShutErr("write"))
	}
	return nil
}

// CloseWrite shuts down the writing side (shutdown(SHUT_WR)); reading
// goes on until the peer closes. Output still queued (left by a Flush,
// or by a Write whose deadline passed) goes first: the peer sees the end
// after it. CloseWrite does not wait for it, as shutdown(2) does not
// wait for the kernel's send queue, and the write deadline does not
// apply: the poller sends the rest, then shuts the side down. Under
// BackendStd, which has no poller, CloseWrite sends it first, under the
// write deadline.
//
// A CloseWrite whose shutdown fails (the socket is no longer connected:
// the peer reset it; output still queued then is not waited for, as it
// will never go) leaves the writing side as it was, as Go's does:
// later writes report the socket's state, and CloseWrite may be called
// again. A CloseWrite on a writing side already shut shuts the socket
// down again, as Go's does, and reports what shutdown says of it then:
// nil while the connection stands, ENOTCONN once the peer has reset it
// (nil while the first CloseWrite's shutdown waits for queued output).
//
// A CloseWrite while another goroutine's write (Write, Flush, ReadFrom)
// waits for room does not wait for the peer to read, as Go's does not:
// that write fails with EPIPE, as Go's does on TCP (a write blocked on
// Go's *net.UnixConn is not woken, and waits for room or its deadline).
// On the native backends what it had queued goes out before the end;
// under BackendStd the socket is shut down at once, as Go's CloseWrite
// does.
func (c *Conn) CloseWrite() error {
	if c.fdst.closed() {
		// As Go's, whose CloseWrite on a closed connection fails
		// before it touches the socket: a writer still running is not
		// asked to stop (its error is the close's), nor waited for.
		return c.opErr("close", errClosed)
	}
	if !c.wmu.TryLock() {
		if c.sock != nil {
			return c.stdCloseWriteBusy()
		}
		// The writer holding wmu may wait for room that a peer that
		// does not read never makes: ask it to stop (fShutAsked).
		c.flags.Or(fShutAsked)
		notify(&c.wwait)
		c.wmu.Lock()
		c.flags.And(^uint32(fShutAsked))
	}
	defer c.wmu.Unlock()
	if !c.incref() {
		return c.opErr("close", errClosed)
	}
	defer c.decref()
	if f := c.flags.Load(); f&fWrShut != 0 {
		return c.closeWriteAgain(f)
	}
	c.out.Disown() // the Writer's open batch is sent, as by Write
	if c.sock != nil {
		// No poller to leave it to: sent here, with what the Writer
		// wrote and did not flush.
		if c.out.Len() > 0 || c.out.MallocLen() > 0 {
			if err := c.flushOut(0, "close"); err != nil {
				return err
			}
		}
		c.flags.Or(fWrShut)
		if err := c.stdShutdown(true); err != nil {
			c.flags.And(^uint32(fWrShut)) // not shut: as below
			return c.opErr("close", err)
		}
		return nil
	}
	c.flags.Or(fWrShut)
	if err := c.out.Flush(); err != nil {
		return c.opErr("close", errClosed)
	}
	if c.out.Len() > 0 && c.flags.Load()&(fBroken|fPeerReadShut) == 0 {
		// A broken connection never sends what is queued: the
		// shutdown is made now, and reports the socket's state.
		c.flags.Or(fShutPending)
		c.p.queueFlush(c)
		c.outSent() // the output may have gone meanwhile
		return nil
	}
	if err := sysShutdownWrite(int(c.fd)); err != nil {
		// The side is not shut (a reset socket is no longer
		// connected): as after Go's failed CloseWrite, a Write reports
		// the socket's state and a CloseWrite tries again.
		c.flags.And(^uint32(fWrShut))
		return c.opErr("close", err)
	}
	return nil
}

// closeWriteAgain is CloseWrite on a writing side already shut (f holds
// fWrShut): as Go's, which shuts the socket down again, it reports what
// shutdown says of the socket now, nil while the connection stands and
// ENOTCONN once the peer has reset it. A shutdown that still waits for
// the queued output to go (fShutPending) is not made early: it would
// cut that output off, unless the connection broke, and the output
// will never go.
func (c *Conn) closeWriteAgain(f uint32) error {
	var err error
	switch {
	case c.sock != nil:
		err = c.stdShutdown(true)
	case f&fShutPending != 0 && f&(fBroken|fPeerReadShut) == 0:
		return nil
	default:
		err = sysShutdownWrite(int(c.fd))
	}
	if err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// fShutAsked marks a CloseWrite that waits for a writer holding wmu: the
// writer stops at its next wait for room (drainOutWait, and sendfile's
// or splice's loop) or chunk (Write) with EPIPE, as a write blocked in
// Go's net fails when another goroutine's CloseWrite shuts the socket
// down. What it queued stays, and goes out before the end. Set and
// cleared by CloseWrite.
const fShutAsked = fUnix << 14

// shutAskedErr is the error of a write that a CloseWrite stopped
// (fShutAsked), named for the system call, as after the shutdown.
func shutAskedErr(call string) error { return os.NewSyscallError(call, errBrokenPipe) }

// CloseRead shuts down the reading side: reads return what the socket
// had received (buffered or still in the kernel), then io.EOF, as Go's
// *net.TCPConn's do. Under BackendStd it is Go's CloseRead, and on
// Linux bytes the peer sends later are read too.
func (c *Conn) CloseRead() error {
	if !c.incref() {
		return c.opErr("close", errClosed)
	}
	defer c.decref()
	if c.sock != nil {
		if err := c.stdShutdown(false); err != nil {
			return c.opErr("close", err)
		}
		return nil
	}
	// The poller goes on reading: the socket returns what it had
	// received, then end of file, which sets fPeerEOF as a peer's FIN
	// does. The shutdown wakes the socket's waiters, so a poller that
	// waits for input sees the end even if nothing else comes.
	if err := sysShutdownRead(int(c.fd)); err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// deadlineNs converts a deadline to the package's clock (0: none; see
// clock.go). The zero time, which net/http sets five times per request,
// takes the inlined test alone.
func deadlineNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return instantNs(t)
}

// deadlineErr wraps err as Go's net.Conn wraps the errors of its
// deadline setters: Op "set", no Source, the local address as Addr.
// (Go's TCP option setters, SetNoDelay and the like, name both
// addresses, as opErr does.)
func (c *Conn) deadlineErr(err error) error {
	return &net.OpError{Op: "set", Net: c.Network(), Addr: c.LocalAddr(), Err: err}
}

// SetDeadline sets both the read and write deadlines. On a closed
// connection, it and SetReadDeadline and SetWriteDeadline fail as on
// Go's: a "set" *net.OpError that names the local address only and
// wraps net.ErrClosed. As on Go's, a blocked call that its deadline
// ends reports the timeout even when the peer's reset, end or bytes
// arrive before the call has returned; only a Close comes first.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.fdst.closed() {
		return c.deadlineErr(errClosed)
	}
	ns := deadlineNs(t)
	setDeadline(&c.rwait, ns)
	setDeadline(&c.wwait, ns)
	if c.sock != nil {
		c.stdSetWriteDeadline(c.writeTimeout())
		c.stdWakeReader()
	}
	return nil
}

// SetReadDeadline sets the read deadline. A deadline in the past wakes
// a Read that is already blocked, at once. The deadline lives in the
// connection's read waiter, so the first deadline set on a connection
// that never blocked allocates it (48 bytes); no call after that does.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.fdst.closed() {
		return c.deadlineErr(errClosed)
	}
	setDeadline(&c.rwait, deadlineNs(t))
	if c.sock != nil {
		c.stdWakeReader()
	}
	return nil
}

// SetWriteDeadline sets the write deadline; like SetReadDeadline it
// wakes a blocked Write or Flush when moved into the past.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.fdst.closed() {
		return c.deadlineErr(errClosed)
	}
	setDeadline(&c.wwait, deadlineNs(t))
	if c.sock != nil {
		// The write timeout, if any, still bounds a write blocked in
		// the socket (the earlier wins), counted from now.
		c.stdSetWriteDeadline(c.writeTimeout())
	}
	return nil
}
