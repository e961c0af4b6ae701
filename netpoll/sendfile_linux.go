package netpoll

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// fRoomWait marks a connection whose ReadFrom (sendfile, splice) waits
// for room in the socket with nothing queued in out (roomWait):
// wantEvents then asks for EPOLLOUT (as queued output does), and the
// event wakes the writer (onEvent). The writer sets it before each wait,
// under wmu; the poller clears it as it wakes the writer, except under
// edge triggering, and the writer when its wait ends (done).
const fRoomWait = fUnix << 10

// maxSendfileChunk bounds one sendfile call: the count must fit an int32
// on every architecture, and a nonblocking socket takes less anyway.
const maxSendfileChunk = 1 << 30

// sendFile is ReadFrom with sendfile(2) when r is a regular file (or a
// limited one) on a native backend; handled is false when it did nothing
// and the caller must copy instead. written and err are then what
// ReadFrom returns, err not yet wrapped in its *net.OpError.
func (c *Conn) sendFile(r io.Reader) (written int64, err error, handled bool) {
	if c.sock != nil {
		return 0, nil, false // BackendStd: see stdReadFrom
	}
	rc, lr, remain, ok := fileSource(r)
	limited := lr != nil
	if limited && remain <= 0 {
		return 0, nil, true
	}
	if !ok {
		return 0, nil, false
	}
	// An inline handler on its own poller cannot wait for room: Write's
	// copy queues what the socket refuses and says ErrWouldBlock.
	if !c.beginReadFrom() {
		return 0, nil, false
	}
	defer (*connWriter)(c).end()
	if c.onInlineLoop() {
		return 0, nil, false
	}
	var serr error
	rerr := rc.Read(func(fd uintptr) bool {
		written, serr, handled = c.sendFileFd(int(fd), remain)
		return true
	})
	if limited {
		lr.N = remain - written
	}
	if !handled {
		// rerr: the file was closed, which the copy's Read reports.
		return 0, nil, false
	}
	if serr == nil {
		serr = rerr
	}
	return written, serr, true
}

// sendFileFd sends the regular file src from its offset, remain bytes
// (-1: to its end). The caller holds wmu and a reference. handled is
// false when src is not a regular file, or sendfile refused it before
// sending anything; the caller then copies.
func (c *Conn) sendFileFd(src int, remain int64) (written int64, err error, handled bool) {
	if !isRegularFile(src) {
		return 0, nil, false
	}
	// What was queued before goes out before the file.
	c.out.Disown()
	if c.out.Len() > 0 || c.out.MallocLen() > 0 {
		if err := c.flushOut(0, "write"); err != nil {
			return 0, err, true
		}
	}
	ctr := &c.p.ctr
	rw := roomWait{c: c}
	defer rw.done()
	for remain < 0 || written < remain {
		if c.fdst.closed() {
			return written, errClosed, true
		}
		if c.flags.Load()&fBroken != 0 {
			return written, c.writeBrokenErr("sendfile"), true
		}
		if c.flags.Load()&fShutAsked != 0 {
			return written, shutAskedErr("sendfile"), true
		}
		chunk := maxSendfileChunk
		if remain >= 0 {
			chunk = int(min(remain-written, maxSendfileChunk))
		}
		n, err := unix.Sendfile(int(c.fd), src, nil, chunk)
		ctr.sendfiles.Add(1)
		if n > 0 {
			written += int64(n)
			ctr.bytesOut.Add(uint64(n))
			c.touch()
		}
		switch err {
		case nil:
			if n == 0 {
				return written, nil, true // the end of the file
			}
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			ctr.writeEAGAIN.Add(1)
		case unix.ENOSYS, unix.EOPNOTSUPP, unix.EINVAL:
			// Not a pair sendfile serves: copy, unless part was sent.
			if written == 0 {
				return 0, nil, false
			}
			return written, os.NewSyscallError("sendfile", err), true
		default:
			err = os.NewSyscallError("sendfile", err)
			if sockFailed(int(c.fd)) && !c.peerReadShut(err) {
				c.brokeTold(err) // not when only the file failed
			}
			return written, err, true
		}
		if err := rw.wait(written); err != nil {
			return written, err, true
		}
	}
	return written, nil, true
}

// roomWait is the wait of a writer that sends from a descriptor
// (sendfile, splice) for room in the socket, with nothing queued: the
// write timeout counts from its first wait, and again from each wait
// after a step of output (writeStep) went out, as for a Flush, so that a
// peer that reads steadily is not cut because the whole transfer takes
// longer than the timeout. While it waits the connection asks for
// EPOLLOUT through fRoomWait. done ends it. The caller holds wmu and a
// reference.
type roomWait struct {
	c     *Conn
	start int64   // when the write timeout counts from (clock.go); 0 before the first wait
	mark  int64   // bytes sent when start was taken
	w     *waiter // the published waiter; nil before the first wait
}

// wait waits for room once, or fails with errTimeout when the write
// deadline or timeout passed; the caller then tries its write again.
// sent is what the caller has sent so far.
// The first call only publishes the waiter and asks for EPOLLOUT: room
// that came in between raised no event (edge-triggered) or one that
// found no flag, so the caller tries once more before anything sleeps.
// A handler running on its poller hands the duty on before it sleeps.
func (rw *roomWait) wait(sent int64) error {
	c := rw.c
	if rw.start == 0 || sent-rw.mark >= int64(c.writeStep()) {
		rw.start, rw.mark = nowNs(), sent
	}
	dl := deadlineOf(deadline(&c.wwait), c.writeTimeout(), rw.start)
	if passed(dl) {
		return errTimeout
	}
	if rw.w == nil {
		rw.w = waiterOf(&c.wwait)
		c.flags.Or(fRoomWait | fWriterWaiting)
		c.updateEvents()
		return nil
	}
	// Ask for the room again: the poller stopped asking when it last
	// woke this writer (onEvent). A level-triggered or one-shot
	// registration reports room that is there already, so none that
	// came meanwhile is missed.
	c.flags.Or(fRoomWait)
	c.updateEvents()
	c.p.yieldFrom(c)
	if rw.w.sleep(dl) && passed(deadlineOf(deadline(&c.wwait), c.writeTimeout(), rw.start)) {
		return errTimeout // see waiter.sleep
	}
	return nil
}

// done ends the wait: no EPOLLOUT for an empty queue.
func (rw *roomWait) done() {
	if rw.w != nil {
		rw.c.flags.And(^uint32(fRoomWait | fWriterWaiting))
		rw.c.updateEvents()
		rw.w = nil
		rw.start, rw.mark = 0, 0
	}
}

// shutFile reports whether ReadFrom's r is a regular file (or a limited
// one with bytes left) while the write side is shut: Go's sendfile then
// fails with EPIPE before it takes anything, where the copy would read a
// chunk of the file and lose it. A passed write deadline comes first,
// as in Go's, which then copies and fails as Write does.
func (c *Conn) shutFile(r io.Reader) bool {
	if c.flags.Load()&fWrShut == 0 || c.fdst.closed() || passed(deadline(&c.wwait)) {
		return false
	}
	rc, lr, remain, ok := fileSource(r)
	if !ok || lr != nil && remain <= 0 {
		return false
	}
	regular := false
	rc.Control(func(fd uintptr) { regular = isRegularFile(int(fd)) })
	return regular
}

// fileSource unwraps ReadFrom's r as sendfile takes it: a syscall.Conn,
// not only an *os.File (io.Copy from a file that has no WriteTo for
// sockets, os.File.WriteTo's fallback, passes the file wrapped in a type
// that keeps SyscallConn), perhaps in an *io.LimitedReader, which lr is
// then, with remain its limit (-1: none). ok is false when r is no such
// source.
func fileSource(r io.Reader) (rc syscall.RawConn, lr *io.LimitedReader, remain int64, ok bool) {
	remain = -1
	if l, limited := r.(*io.LimitedReader); limited {
		lr, remain, r = l, l.N, l.R
	}
	sc, isConn := r.(syscall.Conn)
	if !isConn {
		return nil, lr, remain, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, lr, remain, false
	}
	return rc, lr, remain, true
}

// sockFailed reports whether the socket fd itself has failed: reset or
// timed out (poll says POLLERR or POLLHUP). A sendfile or splice fails
// for its source too (a file opened write-only: EBADF; a source
// socket's reset), which leaves the connection as it was, as on Go's
// net: a later Write or Read goes on.
func sockFailed(fd int) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(p, 0)
		if err != unix.EINTR {
			return err != nil || n > 0 && p[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0
		}
	}
}

// stdSockFailed is sockFailed for BackendStd's socket.
func (c *Conn) stdSockFailed() bool {
	failed := true
	if sc, ok := c.sock.nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { failed = sockFailed(int(fd)) })
		}
	}
	return failed
}

// isRegularFile reports whether fd is a regular file, which sendfile
// reads.
func isRegularFile(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}
