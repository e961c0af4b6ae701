package nethttp

import (
	"io"
	"net"
	"sync"

	"github.com/upoll/upoll/netpoll"
)

// conn is the net.Conn that Accept and Dial return. *netpoll.Conn already
// has net.Conn's semantics (deadlines, io.EOF, net.ErrClosed, CloseWrite,
// serialized Reads and Writes); conn adds io.ReaderFrom, which net/http
// uses for response bodies with a Content-Length.
//
// The nocopy Reader and Writer of the embedded *netpoll.Conn stay
// reachable for code that type-asserts them. What they return must not
// be used after the conn was closed: with EnableParking the socket may
// then serve a later request, under a new conn, and they would act on
// its buffers. The other methods that act on the socket fail on a parked
// conn as on a closed one (deadconn.go).
type conn struct {
	*netpoll.Conn
	pk *parking // nil unless the listener parks (EnableParking)
}

// copyBufSize is the chunk ReadFrom moves per Read: as large as what
// io.Copy uses, so a transfer costs no more syscalls than with Go's net.
const copyBufSize = 32 << 10

// copyBufs recycles ReadFrom's buffers; a pointer to an array keeps Put
// from allocating.
var copyBufs = sync.Pool{New: func() any { return new([copyBufSize]byte) }}

// ReadFrom copies r to the connection until io.EOF or an error. It reads
// into a pooled buffer and writes it with Write, which returns only when
// the kernel has the bytes, so deadlines, backpressure and the
// serialization of concurrent writers apply exactly as for Write. It never
// calls io.Copy with c as the destination (that would recurse into
// ReadFrom).
//
// Its error is shaped as *net.TCPConn's ReadFrom's: a *net.OpError with
// Op "readfrom" and the connection's network and addresses, wrapping
// either the failed Write's error (a write *net.OpError) or r's error as
// r returned it.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[copyBufSize]byte)
	defer copyBufs.Put(buf)
	p := buf[:]
	if lr, ok := r.(*io.LimitedReader); ok {
		if lr.N <= 0 {
			return 0, nil
		}
		if lr.N < int64(len(p)) {
			p = p[:lr.N]
		}
	}
	var total int64
	var err error
	for {
		nr, rerr := r.Read(p)
		if nr > 0 {
			nw, werr := c.Write(p[:nr])
			total += int64(nw)
			if werr != nil {
				err = werr
				break
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	if err != nil {
		err = &net.OpError{Op: "readfrom", Net: c.Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return total, err
}
