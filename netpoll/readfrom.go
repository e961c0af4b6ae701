package netpoll

import (
	"io"
	"net"
	"reflect"
	"sync"
)

// copyBufSize is the chunk ReadFrom's copy moves per Read: as large as
// what io.Copy uses, so a transfer costs no more system calls than with
// Go's net.
const copyBufSize = 32 << 10

// copyBufs recycles the copy's buffers; a pointer to an array keeps Put
// from allocating.
var copyBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// ReadFrom implements io.ReaderFrom: it writes what r yields until
// io.EOF or an error, and returns the count written. io.Copy and
// net/http's response bodies call it.
//
// From a regular file (an *os.File, or anything with its SyscallConn,
// optionally in an *io.LimitedReader) on the epoll and io_uring backends
// it sends with sendfile(2): the bytes go from the page cache to the
// socket without passing through user space, from the file's current
// offset, which advances by what was sent (as *net.TCPConn does). Output
// queued before the call goes out first. When the socket is full it
// waits for room under the write deadline and WriteTimeout, as Write
// does, and a handler running on its poller hands the poller's duty on
// first.
//
// From a stream socket of Go's net (a *net.TCPConn, a *net.UnixConn of
// network "unix", optionally limited; io.Copy from a *net.TCPConn
// reaches ReadFrom with it too) on the same backends it moves the bytes
// with splice(2), socket to pipe to socket, as Go's *net.TCPConn does: a
// chunk of at most 1 MiB (what the pipe holds) at a time, each waited
// for in the runtime's netpoller under the source's read deadline (a
// handler running on its poller hands the poller's duty on first), then
// sent under this connection's write deadline and WriteTimeout, holding
// the write lock only while it sends, so other writers' Writes go out
// between chunks. Output queued before a chunk goes out before it. A
// closed connection, a shut write side or a passed write deadline fail
// before anything is taken from the source; a chunk taken and then not
// sent (the connection closed, reset or timed out meanwhile) is lost, as
// with Go's splice or any copy. Other readers with a SyscallConn (an
// upoll Conn, a wrapper of a socket) may hold bytes their socket no
// longer has: they are read, not spliced.
//
// Under BackendStd, output queued first, a file (or any
// syscall.Conn) goes to the socket's own ReadFrom, which is Go's net's:
// sendfile or splice where the OS has them, under the same deadlines;
// with an idle timeout set it is copied, so that each chunk counts as
// activity. An inline handler's call on its own poller, which must not
// wait, and every other reader are copied as Go's net copies them
// (io.Copy: r's WriteTo where it has one, else chunks of 32 KiB), each
// piece written with Write, with Write's deadlines, bounds and
// serialization of writers.
//
// Its error is shaped as *net.TCPConn's ReadFrom's: a *net.OpError with
// Op "readfrom" and the connection's network and addresses, wrapping
// the failed Write's error (a *net.OpError of its own), the sendfile or
// splice error (net.ErrClosed, os.ErrDeadlineExceeded, ErrWriteShutdown
// or an *os.SyscallError; for a splice, the source's closed or deadline
// error as its socket gives it), or r's error as r returned it.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	var err error
	var handled bool
	if c.shutFile(r) {
		return 0, c.opErr("readfrom", ErrWriteShutdown)
	}
	if c.sock != nil {
		n, err, handled = c.stdReadFrom(r)
	} else if n, err, handled = c.spliceFrom(r); !handled {
		n, err, handled = c.sendFile(r)
	}
	if !handled {
		var m int64
		m, err = c.copyFrom(r)
		n += m
	}
	if err != nil {
		err = c.opErr("readfrom", err)
	}
	return n, err
}

// beginReadFrom starts ReadFrom's own path (sendfile, or Go's ReadFrom
// under BackendStd) as a write begins: wmu and a reference held, which
// (*connWriter).end lets go. It reports false, holding nothing, for what
// fails at once: a closed conn, a shut write side, a passed write
// deadline. Those go to the copy, whose Write fails as Write does (Go's
// net also copies when the socket is closed or its deadline passed).
func (c *Conn) beginReadFrom() bool {
	w := (*connWriter)(c)
	if w.begin() != nil {
		return false
	}
	if passed(deadline(&c.wwait)) {
		w.end()
		return false
	}
	return true
}

// copyFrom is ReadFrom's copy, as Go's net makes it: io.Copy to c with
// ReadFrom hidden (it would recur here), through a pooled buffer.
func (c *Conn) copyFrom(r io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[copyBufSize]byte)
	defer copyBufs.Put(buf)
	return io.CopyBuffer(writerOnly{c}, r, buf[:])
}

// writerOnly hides every method of a Writer but Write.
type writerOnly struct{ io.Writer }

// goSocket reports whether r is a stream socket of Go's net that splice
// can read: a *net.TCPConn, a *net.UnixConn of network "unix", or the
// type in which *net.TCPConn's WriteTo passes itself to io.Copy (which
// then calls ReadFrom with it; it holds the *net.TCPConn). Other
// syscall.Conns are read, not spliced: an upoll Conn, or a user's
// wrapper, may hold input that its socket no longer does.
func goSocket(r io.Reader) bool {
	switch s := r.(type) {
	case *net.TCPConn:
		return true
	case *net.UnixConn:
		a, ok := s.LocalAddr().(*net.UnixAddr)
		return ok && a != nil && a.Net == "unix"
	}
	t := reflect.TypeOf(r)
	return t != nil && t.PkgPath() == "net" && t.Name() == "tcpConnWithoutWriteTo"
}

// spliceWritable is why the connection cannot take bytes now, if it
// cannot, as ReadFrom's splice reports it (unwrapped). A passed write
// deadline comes before the socket's state, as in Go's splice.
func (c *Conn) spliceWritable() error {
	switch f := c.flags.Load(); {
	case c.fdst.closed():
		return errClosed
	case passed(deadline(&c.wwait)):
		return errTimeout
	case f&fWrShut != 0:
		return ErrWriteShutdown
	case f&fBroken != 0:
		return c.writeBrokenErr("splice")
	case f&fPeerReadShut != 0:
		return writeShutErr("splice")
	}
	return nil
}
