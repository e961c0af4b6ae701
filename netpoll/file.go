package netpoll

import (
	"fmt"
	"os"
)

// File returns a copy of the connection's socket as an *os.File, as
// (*net.TCPConn).File does: a duplicate descriptor (close-on-exec) that
// the caller must close. Closing the Conn does not affect the File, and
// closing the File does not affect the Conn; the socket stays open, and
// the peer sees no end, until both are closed. The File's name is Go's:
// the network, then local->remote ("tcp:127.0.0.1:80->127.0.0.1:5000").
//
// The two descriptors share the socket and its state, as in Go's net.
// While the Conn is open its poller reads the socket's input into the
// Conn's buffer, so a read through the File gets only what the poller
// did not take; bytes written through the File go out between the
// Conn's writes. On the native
// backends, unlike Go's, the File's Fd leaves the descriptor
// nonblocking: O_NONBLOCK belongs to the socket, not to one descriptor,
// and the Conn's poller relies on it.
//
// Under BackendStd it is the File of the underlying net.Conn (whose Fd
// is Go's). An error
// is a *net.OpError (Op "file", Source and Addr the local and remote
// addresses) wrapping the *os.SyscallError of the duplication, or
// net.ErrClosed after Close, as Go's; under BackendStd, a net.Conn
// without File gives one whose Err satisfies errors.Is(err,
// errors.ErrUnsupported).
func (c *Conn) File() (*os.File, error) {
	if c.sock != nil {
		return c.stdFile()
	}
	if !c.incref() {
		return nil, c.opErr("file", errClosed)
	}
	defer c.decref()
	fd, err := sysDupCloexec(int(c.fd))
	if err != nil {
		return nil, c.opErr("file", err)
	}
	c.flags.Or(fFileTaken)
	return os.NewFile(uintptr(fd), c.fileName()), nil
}

// fFileTaken marks a connection whose socket File duplicated: the
// socket lives on in the File after Close, so Close must not shut it
// down (endNow, destroy, stdFINFirst), as Go's close(2) of one
// descriptor leaves it alone.
const fFileTaken = fUnix << 19

// stdFile is File under BackendStd. The Conn's closing is looked at
// first: a Close that lingers keeps the net.Conn open for a while.
func (c *Conn) stdFile() (*os.File, error) {
	if c.fdst.closed() {
		return nil, c.opErr("file", errClosed)
	}
	if f, ok := c.sock.nc.(interface{ File() (*os.File, error) }); ok {
		c.flags.Or(fFileTaken)
		return f.File()
	}
	return nil, c.opErr("file", fmt.Errorf("netpoll: %T has no File: %w", c.sock.nc, errOpNotSupported))
}

// fileName is the name Go's net gives the File of a connection.
func (c *Conn) fileName() string {
	var l, r string
	if a := c.LocalAddr(); a != nil {
		l = a.String()
	}
	if a := c.RemoteAddr(); a != nil {
		r = a.String()
	}
	return c.Network() + ":" + l + "->" + r
}

// MultipathTCP reports whether the connection uses Multipath TCP, as
// (*net.TCPConn).MultipathTCP does on Linux: on kernels from 5.16 on,
// whether the socket is MPTCP and has not fallen back to plain TCP (the
// peer or a middlebox refused MPTCP); on older ones, whether the socket
// was made MPTCP. It is false on other systems, on a Unix-domain
// connection, and after Close (where Go's reports true from 5.16 on:
// its getsockopt on the closed descriptor fails, which it takes for no
// fallback). The native backends dial and listen on
// plain TCP; a socket is MPTCP only when it came from a listener Go's
// net made so (net.ListenConfig's SetMultipathTCP) and upoll wrapped
// (WrapListener). Under BackendStd it is the underlying net.Conn's, or
// false when that has no such method. The error is always nil.
func (c *Conn) MultipathTCP() (bool, error) {
	if c.sock != nil {
		if c.fdst.closed() {
			return false, nil
		}
		if m, ok := c.sock.nc.(interface{ MultipathTCP() (bool, error) }); ok {
			return m.MultipathTCP()
		}
		return false, nil
	}
	if !c.incref() {
		return false, nil
	}
	defer c.decref()
	if c.flags.Load()&fUnix != 0 {
		return false, nil
	}
	return sysMultipathTCP(int(c.fd)), nil
}
