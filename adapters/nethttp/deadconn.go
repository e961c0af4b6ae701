package nethttp

import (
	"net"
	"os"
	"syscall"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// The methods of the embedded *netpoll.Conn that act on the socket or
// on the connection's state, each wrapped so that a parked conn is dead
// for its holder: the socket is the lot's, then a new conn's, which
// serves a later request, and code that kept the conn (from ConnContext,
// say) must not shut it down, set its options or its timeouts, or take
// its input notification. Each fails as on Go's closed *net.TCPConn
// (net.ErrClosed in a *net.OpError of Go's Op and addresses) or, for
// the netpoll methods Go lacks, as the deadline setters do; otherwise it
// is netpoll.Conn's, counted by enter so that a Close does not park the
// socket under it. Without parking (c.pk nil) each is the embedded
// method after one nil check.
//
// Reader and Writer are left as they are: what they return acts on the
// connection's buffers until the socket closes, parked or not, and must
// not be used after the conn was closed.

// live makes call, a call on the socket, while the conn is live for its
// holder, counted by enter so that a Close does not park the socket
// under it; on a dead conn it makes no call and fails as Go's closed conn
// does for op, naming both addresses or, localOnly, the local one. Without
// parking it is call after one nil check.
func (c *conn) live(op string, localOnly bool, call func() error) error {
	pk := c.pk
	if pk == nil {
		return call()
	}
	if !pk.enter() {
		if localOnly {
			return c.closedLocalErr(op)
		}
		return c.closedErr(op)
	}
	defer pk.exit()
	return call()
}

// CloseWrite is netpoll.Conn's; on a dead conn it fails as Go's does
// after Close: Op "close", both addresses.
func (c *conn) CloseWrite() error {
	return c.live("close", false, func() error { return c.Conn.CloseWrite() })
}

// CloseRead is netpoll.Conn's; on a dead conn it fails as CloseWrite.
func (c *conn) CloseRead() error {
	return c.live("close", false, func() error { return c.Conn.CloseRead() })
}

// SetNoDelay is netpoll.Conn's; on a dead conn it fails as Go's TCP
// option setters do after Close: Op "set", both addresses. So do
// SetKeepAlive, SetKeepAlivePeriod, SetKeepAliveConfig and SetLinger.
func (c *conn) SetNoDelay(noDelay bool) error {
	return c.live("set", false, func() error { return c.Conn.SetNoDelay(noDelay) })
}

func (c *conn) SetKeepAlive(keepalive bool) error {
	return c.live("set", false, func() error { return c.Conn.SetKeepAlive(keepalive) })
}

func (c *conn) SetKeepAlivePeriod(d time.Duration) error {
	return c.live("set", false, func() error { return c.Conn.SetKeepAlivePeriod(d) })
}

func (c *conn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	return c.live("set", false, func() error { return c.Conn.SetKeepAliveConfig(config) })
}

func (c *conn) SetLinger(sec int) error {
	return c.live("set", false, func() error { return c.Conn.SetLinger(sec) })
}

// SetReadBuffer is netpoll.Conn's; on a dead conn it fails as Go's does
// after Close: Op "set", the local address only. So does SetWriteBuffer.
func (c *conn) SetReadBuffer(bytes int) error {
	return c.live("set", true, func() error { return c.Conn.SetReadBuffer(bytes) })
}

func (c *conn) SetWriteBuffer(bytes int) error {
	return c.live("set", true, func() error { return c.Conn.SetWriteBuffer(bytes) })
}

// SetReadTimeout, SetWriteTimeout and SetIdleTimeout are netpoll.Conn's
// (Go's conn has none); on a dead conn they change nothing and fail as
// the deadline setters: Op "set", the local address only. (The lot gives
// a parked socket srv's idle timeout; a dead conn must not shorten it,
// nor the timeouts of the conn that serves the socket next.)
func (c *conn) SetReadTimeout(d time.Duration) error {
	return c.live("set", true, func() error { return c.Conn.SetReadTimeout(d) })
}

func (c *conn) SetWriteTimeout(d time.Duration) error {
	return c.live("set", true, func() error { return c.Conn.SetWriteTimeout(d) })
}

func (c *conn) SetIdleTimeout(d time.Duration) error {
	return c.live("set", true, func() error { return c.Conn.SetIdleTimeout(d) })
}

// NotifyInput is netpoll.Conn's; on a dead conn it registers nothing, as
// on a closed one, and cancels nothing: the lot's own registration on
// the parked socket stays.
func (c *conn) NotifyInput(f func(*netpoll.Conn)) {
	if pk := c.pk; pk != nil {
		if !pk.enter() {
			return
		}
		defer pk.exit()
	}
	c.Conn.NotifyInput(f)
}

// Context and SetContext are netpoll.Conn's; the value belongs to the
// socket, so a dead conn neither sees nor sets it (Context returns nil).
func (c *conn) Context() any {
	if pk := c.pk; pk != nil {
		if !pk.enter() {
			return nil
		}
		defer pk.exit()
	}
	return c.Conn.Context()
}

func (c *conn) SetContext(v any) {
	if pk := c.pk; pk != nil {
		if !pk.enter() {
			return
		}
		defer pk.exit()
	}
	c.Conn.SetContext(v)
}

// IsActive is netpoll.Conn's; a dead conn is not active.
func (c *conn) IsActive() bool {
	if c.pk != nil && c.pk.state.Load() == psParked {
		return false
	}
	return c.Conn.IsActive()
}

// File is netpoll.Conn's: a duplicate of the socket's descriptor, which
// the caller closes. On a dead conn it duplicates nothing and fails as
// Go's after Close: Op "file", both addresses. A conn whose File was
// taken never parks, as a hijacked one: after Go's Close the socket is
// the File's alone, and a parked one would be read by the listener too.
func (c *conn) File() (f *os.File, err error) {
	err = c.live("file", false, func() error {
		if f, err = c.Conn.File(); err == nil && c.pk != nil {
			c.pk.pin()
		}
		return err
	})
	return f, err
}

// MultipathTCP is netpoll.Conn's; a dead conn reports false, as a
// closed one.
func (c *conn) MultipathTCP() (bool, error) {
	if pk := c.pk; pk != nil {
		if !pk.enter() {
			return false, nil
		}
		defer pk.exit()
	}
	return c.Conn.MultipathTCP()
}

// SyscallConn is netpoll.Conn's. With parking on, its RawConn is dead
// once the conn is, even if it was taken before: its calls then fail as
// those of Go's RawConn after Close (Control: Op "raw-control", the local
// address only; Read and Write: "raw-read" and "raw-write", both
// addresses) and do not run f.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	rc, err := c.Conn.SyscallConn()
	if c.pk == nil || err != nil {
		return rc, err
	}
	return parkingRawConn{c, rc}, nil
}

// parkingRawConn is the syscall.RawConn of a conn that may park.
type parkingRawConn struct {
	c  *conn
	rc syscall.RawConn
}

func (r parkingRawConn) Control(f func(fd uintptr)) error {
	return r.c.live("raw-control", true, func() error { return r.rc.Control(f) })
}

func (r parkingRawConn) Read(f func(fd uintptr) (done bool)) error {
	return r.c.live("raw-read", false, func() error { return r.rc.Read(f) })
}

func (r parkingRawConn) Write(f func(fd uintptr) (done bool)) error {
	return r.c.live("raw-write", false, func() error { return r.rc.Write(f) })
}
