package nethttp

import (
	"io"
	"net"

	"github.com/upoll/upoll/netpoll"
)

// conn is the net.Conn that Accept and Dial return. *netpoll.Conn already
// has net.Conn's semantics (deadlines, io.EOF, net.ErrClosed, CloseWrite,
// serialized Reads and Writes, io.ReaderFrom with sendfile from files,
// which net/http uses for file bodies, and splice from Go's sockets, and
// io.WriterTo, and *net.TCPConn's File, MultipathTCP and SyscallConn);
// conn wraps what a parked conn must not reach.
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

// ReadFrom is netpoll.Conn's: sendfile(2) from a regular file, splice(2)
// from a socket of Go's net, a copy through Write otherwise (see netpoll.Conn.ReadFrom). On a dead conn
// (parked, then closed by its holder) it sends nothing and fails as Go's
// closed conn's does: a *net.OpError "readfrom" wrapping Write's error.
func (c *conn) ReadFrom(r io.Reader) (int64, error) {
	pk := c.pk
	if pk == nil {
		return c.Conn.ReadFrom(r)
	}
	if !pk.enter() {
		return 0, &net.OpError{Op: "readfrom", Net: c.Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: c.closedErr("write")}
	}
	defer pk.exit()
	return c.Conn.ReadFrom(r)
}

// WriteTo is netpoll.Conn's (the input written to w from the inbound
// buffer, without a copy) when the listener does not park; with parking
// it copies through Read, which knows a parked conn: the embedded method
// would read the socket's buffers, which a parked conn no longer owns.
// Its error is shaped as *net.TCPConn's WriteTo's.
func (c *conn) WriteTo(w io.Writer) (int64, error) {
	if c.pk == nil {
		return c.Conn.WriteTo(w)
	}
	n, err := io.Copy(w, struct{ io.Reader }{c})
	if err != nil {
		err = &net.OpError{Op: "writeto", Net: c.Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, err
}
