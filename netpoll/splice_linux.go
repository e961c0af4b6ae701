package netpoll

import (
	"errors"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// spliceFrom is ReadFrom with splice(2) when r is a socket of Go's net
// (see goSocket), or a limited one, on a native backend: the bytes go
// from the source socket into a pipe and from the pipe into the
// connection's, without passing through user space. handled is false
// when it did nothing and the caller must copy instead; written and err
// are then what ReadFrom returns, err not yet wrapped.
//
// It moves what the source yields as Go's net does (poll.Splice): a
// chunk at a time, each waited for in the runtime's netpoller under the
// source's read deadline, then pumped into the socket under this
// connection's write deadline and WriteTimeout, holding wmu only while
// it pumps, so other writers interleave between chunks as they do with
// the copy. Unlike Go's, nothing is taken from the source before the
// connection is known to take it: a closed connection, a shut write
// side or a passed write deadline fail at once.
func (c *Conn) spliceFrom(r io.Reader) (written int64, err error, handled bool) {
	if c.sock != nil {
		return 0, nil, false // BackendStd: see stdReadFrom
	}
	remain := int64(math.MaxInt64)
	lr, limited := r.(*io.LimitedReader)
	if limited {
		remain, r = lr.N, lr.R
	}
	if !goSocket(r) {
		return 0, nil, false
	}
	if remain <= 0 {
		return 0, nil, true
	}
	rc, err := r.(syscall.Conn).SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	// An inline handler on its own poller cannot wait for the source or
	// for room: the copy's Write queues what the socket refuses.
	if c.onInlineLoop() {
		return 0, nil, false
	}
	if err := c.spliceWritable(); err != nil {
		return 0, err, true
	}
	pp := getSplicePipe()
	if pp == nil {
		return 0, nil, false // no pipe (out of descriptors): copy
	}
	defer putSplicePipe(pp)
	if limited {
		defer func() { lr.N = remain }()
	}
	for remain > 0 {
		n, err := c.spliceFill(pp, rc, int(min(remain, maxSpliceChunk)))
		if err == unix.EINVAL {
			if written == 0 {
				return 0, nil, false // a pair splice does not serve
			}
			err = os.NewSyscallError("splice", err)
		}
		if err != nil {
			return written, err, true
		}
		if n == 0 {
			break // the source's end
		}
		m, err := c.splicePump(pp, n)
		written += int64(m)
		remain -= int64(m)
		if err != nil {
			return written, err, true
		}
	}
	return written, nil, true
}

// maxSpliceChunk bounds what one pass takes from the source, and is the
// size asked for the pipe (as Go's net asks): a pass then takes what the
// source has, up to 1 MiB, and the pipe holds at most that while the
// pump waits for a peer that does not read. Where the system refuses the
// size (fs.pipe-max-size, pipe-user-pages-soft) the pipe keeps a smaller
// one, and a pass takes what it holds.
const maxSpliceChunk = 1 << 20

// spliceFill moves at most max bytes that the source socket has into
// the empty pipe pp, waiting for them in the runtime's netpoller under
// the source's read deadline; 0 is the source's end. A handler running
// on its poller hands the poller's duty on before it waits. Errors are
// those of Go's splice: the source's closed or deadline error, or an
// *os.SyscallError of splice (a bare unix.EINVAL when splice refused).
func (c *Conn) spliceFill(pp *splicePipe, rc syscall.RawConn, max int) (int, error) {
	var n int
	var serr error
	rerr := rc.Read(func(fd uintptr) bool {
		for {
			n, serr = splice(int(fd), pp.w, max)
			if serr != unix.EINTR {
				break
			}
		}
		if serr == unix.EAGAIN {
			// The pipe is empty (every pump empties it), so the
			// source has nothing: wait for it.
			c.p.yieldFrom(c)
			return false
		}
		return true
	})
	if rerr != nil {
		// The source's own error, as Go's splice returns it: not
		// inside rawConn's "raw-read" *net.OpError.
		var oe *net.OpError
		if errors.As(rerr, &oe) && oe.Op == "raw-read" {
			rerr = oe.Err
		}
		return 0, rerr
	}
	switch {
	case serr == unix.EINVAL:
		return 0, serr
	case serr != nil:
		return 0, os.NewSyscallError("splice", serr)
	}
	pp.data += n
	return n, nil
}

// splicePump moves the n bytes in pp into the socket, under wmu as a
// write: output that other writers queued meanwhile goes first, and
// when the socket is full it waits for room under the write deadline
// and WriteTimeout.
func (c *Conn) splicePump(pp *splicePipe, n int) (written int, err error) {
	w := (*connWriter)(c)
	// wmu waited for, even by an inline handler (lockWrite): the pipe
	// holds the source's bytes already, which ErrWouldBlock would drop.
	c.wmu.Lock()
	if err := w.locked(); err != nil {
		// Closed or shut, which spliceWritable reports unwrapped.
		if serr := c.spliceWritable(); serr != nil {
			return 0, serr
		}
		return 0, err
	}
	defer w.end()
	if err := c.spliceWritable(); err != nil {
		return 0, err
	}
	c.out.Disown() // the Writer's open batch goes first, as for Write
	if c.out.Len() > 0 || c.out.MallocLen() > 0 {
		if err := c.flushOut(0, "write"); err != nil {
			return 0, err
		}
	}
	ctr := &c.p.ctr
	rw := roomWait{c: c}
	defer rw.done()
	for written < n {
		if c.fdst.closed() {
			return written, errClosed
		}
		if c.flags.Load()&fBroken != 0 {
			return written, c.writeBrokenErr("splice")
		}
		if c.flags.Load()&fShutAsked != 0 {
			return written, shutAskedErr("splice")
		}
		m, err := splice(pp.r, int(c.fd), n-written)
		ctr.splices.Add(1)
		if m > 0 {
			written += m
			pp.data -= m
			ctr.bytesOut.Add(uint64(m))
			c.touch()
		}
		switch err {
		case nil:
			if m == 0 {
				// The pipe had no bytes for a count it holds.
				return written, os.NewSyscallError("splice", io.ErrNoProgress)
			}
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			ctr.writeEAGAIN.Add(1)
		default:
			err = os.NewSyscallError("splice", err)
			if !c.peerReadShut(err) {
				c.brokeTold(err)
			}
			return written, err
		}
		if err := rw.wait(int64(written)); err != nil {
			return written, err
		}
	}
	return written, nil
}

// splice moves at most max bytes from in to out without blocking on
// either (SPLICE_F_NONBLOCK: the pipe's side; the socket's is
// nonblocking or its wait is the caller's).
func splice(in, out, max int) (int, error) {
	n, err := unix.Splice(in, nil, out, nil, max, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	return int(n), err
}

// splicePipe is a pipe that splice moves bytes through; data is what it
// holds. Pipes are pooled empty; one that kept bytes (a pump failed) is
// closed, and a pooled one that the garbage collector drops is closed
// by its cleanup.
type splicePipe struct {
	r, w    int
	data    int
	cleanup runtime.Cleanup
}

var splicePipes = sync.Pool{New: func() any { return newSplicePipe() }}

// newSplicePipe opens a pipe, or returns nil when it cannot.
func newSplicePipe() *splicePipe {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil
	}
	unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, maxSpliceChunk) // a smaller pipe works too
	pp := &splicePipe{r: fds[0], w: fds[1]}
	pp.cleanup = runtime.AddCleanup(pp, closePipe, fds)
	return pp
}

func closePipe(fds [2]int) {
	unix.Close(fds[0])
	unix.Close(fds[1])
}

// getSplicePipe returns an empty pipe, or nil when none can be opened.
func getSplicePipe() *splicePipe {
	pp, _ := splicePipes.Get().(*splicePipe)
	return pp
}

// putSplicePipe pools pp if it is empty, and closes it if not: its
// bytes belong to a transfer that failed.
func putSplicePipe(pp *splicePipe) {
	if pp.data != 0 {
		pp.cleanup.Stop()
		closePipe([2]int{pp.r, pp.w})
		return
	}
	splicePipes.Put(pp)
}
