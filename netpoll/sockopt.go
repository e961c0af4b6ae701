package netpoll

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// The socket options of Go's *net.TCPConn, so that code written for one
// (a server that tunes its sockets, a type assertion on what Accept
// returned) works on a *Conn. Each setter does what the method of the
// same name on *net.TCPConn does:
//
//	backend        how the option is set
//	epoll, uring   setsockopt on the connection's descriptor, holding a
//	               reference (fdState): a concurrent Close cannot make it
//	               act on a descriptor number reused meanwhile
//	BackendStd     the same method of the underlying net.Conn
//
// The errors have Go's shapes: a *net.OpError with Op "set", Source the
// local and Addr the remote address (SetReadBuffer and SetWriteBuffer:
// Source nil and Addr the local address, as Go's), whose Err is the
// *os.SyscallError of setsockopt; after Close, Err is net.ErrClosed.
// The TCP options (all but the buffer sizes) fail on a Unix-domain
// connection, whose *net.UnixConn has no such methods: Err is then
// setsockopt's EOPNOTSUPP, and errors.Is(err, errors.ErrUnsupported)
// holds. So does a BackendStd connection whose net.Conn lacks the method.

// Keep-alive defaults, the same as Go's net package (net.KeepAliveConfig):
// for accepted and dialed TCP sockets, and for the zero fields given to
// SetKeepAlivePeriod and SetKeepAliveConfig.
const (
	defaultKeepAliveIdle     = 15 * time.Second
	defaultKeepAliveInterval = 15 * time.Second
	defaultKeepAliveCount    = 9
)

// errNoSockopt is the Err of a TCP option set on a Unix-domain socket.
var errNoSockopt = os.NewSyscallError("setsockopt", errOpNotSupported)

// SetNoDelay controls Nagle's algorithm (TCP_NODELAY). With noDelay true,
// the default of accepted and dialed connections as with Go's net, each
// write is sent as soon as possible; false lets the kernel hold small
// writes back to coalesce them.
//
// Epoll and uring set it on the descriptor, holding a reference;
// BackendStd calls the same method of the net.Conn. An error is a
// *net.OpError (Op "set", Source and Addr the local and remote
// addresses) wrapping setsockopt's *os.SyscallError; net.ErrClosed
// after Close; EOPNOTSUPP on a Unix-domain connection.
func (c *Conn) SetNoDelay(noDelay bool) error {
	return setOption(c, true,
		func(s interface{ SetNoDelay(bool) error }) error { return s.SetNoDelay(noDelay) },
		func(fd int) error { return sysSetNoDelay(fd, noDelay) })
}

// SetKeepAlive turns TCP keep-alive probes (SO_KEEPALIVE) on or off.
// Accepted connections have them on with Go's timers (15 s idle, 15 s
// between probes, 9 probes), dialed ones as the Dialer's KeepAlive says.
//
// Backends and errors: as SetNoDelay's.
func (c *Conn) SetKeepAlive(keepalive bool) error {
	return setOption(c, true,
		func(s interface{ SetKeepAlive(bool) error }) error { return s.SetKeepAlive(keepalive) },
		func(fd int) error { return sysSetKeepAlive(fd, keepalive) })
}

// SetKeepAlivePeriod sets how long the connection stays idle before the
// first keep-alive probe (TCP_KEEPIDLE; TCP_KEEPALIVE on Darwin), rounded
// up to whole seconds: 0 means 15 s, a negative d changes nothing. It
// does not turn the probes on (SetKeepAlive does).
//
// Backends and errors: as SetNoDelay's.
func (c *Conn) SetKeepAlivePeriod(d time.Duration) error {
	return setOption(c, true,
		func(s interface{ SetKeepAlivePeriod(time.Duration) error }) error { return s.SetKeepAlivePeriod(d) },
		func(fd int) error { return setKeepAliveIdle(fd, d) })
}

// SetKeepAliveConfig configures keep-alive probes as
// (*net.TCPConn).SetKeepAliveConfig: SO_KEEPALIVE from config.Enable,
// then the idle time, the interval between probes (rounded up to whole
// seconds) and the number of unanswered probes that drops the
// connection. Each of those is set whether or not Enable is: a zero
// field means Go's default (15 s, 15 s, 9), a negative one leaves the
// socket's value as it is. The first failure is returned; the options
// before it stay set.
//
// Backends and errors: as SetNoDelay's.
func (c *Conn) SetKeepAliveConfig(config net.KeepAliveConfig) error {
	return setOption(c, true,
		func(s interface {
			SetKeepAliveConfig(net.KeepAliveConfig) error
		}) error {
			return s.SetKeepAliveConfig(config)
		},
		func(fd int) error {
			if err := sysSetKeepAlive(fd, config.Enable); err != nil {
				return err
			}
			if err := setKeepAliveIdle(fd, config.Idle); err != nil {
				return err
			}
			if err := setKeepAliveInterval(fd, config.Interval); err != nil {
				return err
			}
			return setKeepAliveCount(fd, config.Count)
		})
}

// SetLinger sets SO_LINGER, which governs what the kernel does with the
// data it still holds when the descriptor is closed. sec < 0 (the
// default): close returns at once and the kernel sends that data in the
// background. sec == 0: the data is discarded and the peer gets a reset
// (RST). sec > 0: as for sec < 0, but close(2) blocks until the data is
// sent or sec seconds pass, whatever goroutine drops the descriptor's
// last reference (Close's, or a poller's after a lingering Close, which
// then serves none of its other connections meanwhile), as it blocks
// Go's Close.
//
// Output still queued in the Conn is not the kernel's: Close sends it
// first (see Close), and SO_LINGER applies to what is left when the
// descriptor is finally closed.
//
// Backends and errors: as SetNoDelay's.
func (c *Conn) SetLinger(sec int) error {
	return setOption(c, true,
		func(s interface{ SetLinger(int) error }) error { return s.SetLinger(sec) },
		func(fd int) error { return sysSetLinger(fd, sec) })
}

// SetReadBuffer sets the size of the kernel's receive buffer for the
// socket (SO_RCVBUF), as (*net.TCPConn).SetReadBuffer; the kernel may
// adjust it (Linux doubles it, within its limits). The poller reads from
// it into the Conn's own buffer, bounded by MaxInput. It applies to
// Unix-domain connections too.
//
// Epoll and uring set it on the descriptor, holding a reference;
// BackendStd calls the same method of the net.Conn. An error is a
// *net.OpError (Op "set", Source nil and Addr the local address, as
// Go's) wrapping setsockopt's *os.SyscallError; net.ErrClosed after
// Close.
func (c *Conn) SetReadBuffer(bytes int) error {
	return setOption(c, false,
		func(s interface{ SetReadBuffer(int) error }) error { return s.SetReadBuffer(bytes) },
		func(fd int) error { return sysSetReadBuffer(fd, bytes) })
}

// SetWriteBuffer sets the size of the kernel's send buffer for the
// socket (SO_SNDBUF), as (*net.TCPConn).SetWriteBuffer; the kernel may
// adjust it. What it does not take waits in the Conn's outbound buffer,
// bounded by MaxOutput. It applies to Unix-domain connections too.
//
// Backends and errors: as SetReadBuffer's.
func (c *Conn) SetWriteBuffer(bytes int) error {
	return setOption(c, false,
		func(s interface{ SetWriteBuffer(int) error }) error { return s.SetWriteBuffer(bytes) },
		func(fd int) error { return sysSetWriteBuffer(fd, bytes) })
}

// setOption sets an option through viaStd on the net.Conn of a
// BackendStd connection (which must have the method: T is the interface
// of one), or through native on a native connection's descriptor
// (setSockopt). tcp marks a TCP option.
func setOption[T any](c *Conn, tcp bool, viaStd func(T) error, native func(fd int) error) error {
	if c.sock != nil {
		if s, ok := c.sock.nc.(T); ok {
			return viaStd(s)
		}
		return c.stdNoSockopt(tcp)
	}
	return c.setSockopt(tcp, native)
}

// setSockopt runs set on the descriptor of a native connection, holding
// a reference. tcp marks a TCP option, refused on a Unix-domain socket.
func (c *Conn) setSockopt(tcp bool, set func(fd int) error) error {
	if !c.incref() {
		return c.sockoptErr(tcp, errClosed)
	}
	defer c.decref()
	if tcp && c.flags.Load()&fUnix != 0 {
		return c.sockoptErr(tcp, errNoSockopt)
	}
	if err := set(int(c.fd)); err != nil {
		return c.sockoptErr(tcp, err)
	}
	return nil
}

// stdNoSockopt is the error of an option that the net.Conn of a
// BackendStd connection does not have.
func (c *Conn) stdNoSockopt(tcp bool) error {
	if c.fdst.closed() {
		return c.sockoptErr(tcp, errClosed)
	}
	return c.sockoptErr(tcp, errNoSockopt)
}

// sockoptErr wraps err as Go's net does: the TCP options name both
// addresses, the buffer sizes (a method of every Go connection) only
// the local one, as Addr.
func (c *Conn) sockoptErr(tcp bool, err error) error {
	if tcp {
		return c.opErr("set", err)
	}
	return &net.OpError{Op: "set", Net: c.Network(), Addr: c.LocalAddr(), Err: err}
}

// setKeepAliveIdle, setKeepAliveInterval and setKeepAliveCount set one
// keep-alive timer as Go's net does: 0 is the default, a negative value
// changes nothing, durations round up to whole seconds.
func setKeepAliveIdle(fd int, d time.Duration) error {
	if d == 0 {
		d = defaultKeepAliveIdle
	} else if d < 0 {
		return nil
	}
	return sysSetKeepAliveIdle(fd, ceilSeconds(d))
}

func setKeepAliveInterval(fd int, d time.Duration) error {
	if d == 0 {
		d = defaultKeepAliveInterval
	} else if d < 0 {
		return nil
	}
	return sysSetKeepAliveInterval(fd, ceilSeconds(d))
}

func setKeepAliveCount(fd, n int) error {
	if n == 0 {
		n = defaultKeepAliveCount
	} else if n < 0 {
		return nil
	}
	return sysSetKeepAliveCount(fd, n)
}

// ceilSeconds is d in whole seconds, rounded up.
func ceilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// SyscallConn returns a syscall.RawConn for the connection's socket, as
// (*net.TCPConn).SyscallConn does, for options this package does not
// set itself. Under BackendStd it is the underlying net.Conn's (an error
// wrapping errors.ErrUnsupported when that is not a syscall.Conn); there
// f must not call the Conn's Close, which, as Go's, waits for f.
//
// On a native backend, Control(f) runs f with the descriptor while it
// holds a reference on it, so the descriptor stays open (and its number
// is not reused) until f returns, even if the Conn is closed meanwhile;
// f must not close the descriptor nor keep it after returning. After
// Close, Control returns a *net.OpError (Op "raw-control") wrapping
// net.ErrClosed, as Go's does. Read and Write
// return a *net.OpError wrapping ErrRawIO and do not call f: the poller
// reads the socket into the Conn's buffer and sends its queued output,
// so bytes that f read or wrote behind its back would be lost or
// reordered. Read and write through the Conn instead.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if c.sock != nil {
		if sc, ok := c.sock.nc.(syscall.Conn); ok {
			return sc.SyscallConn()
		}
		return nil, fmt.Errorf("netpoll: SyscallConn: %T is not a syscall.Conn: %w", c.sock.nc, errOpNotSupported)
	}
	return rawConn{c}, nil
}

// rawConn is SyscallConn's syscall.RawConn on a native backend.
type rawConn struct{ c *Conn }

func (rc rawConn) Control(f func(fd uintptr)) error {
	c := rc.c
	if !c.incref() {
		return &net.OpError{Op: "raw-control", Net: c.Network(), Addr: c.LocalAddr(), Err: errClosed}
	}
	defer c.decref()
	f(uintptr(c.fd))
	return nil
}

func (rc rawConn) Read(f func(fd uintptr) (done bool)) error { return rc.c.rawIOErr("raw-read") }

func (rc rawConn) Write(f func(fd uintptr) (done bool)) error { return rc.c.rawIOErr("raw-write") }

// rawIOErr is the error of RawConn's Read and Write: net.ErrClosed after
// Close, as Go's, ErrRawIO otherwise.
func (c *Conn) rawIOErr(op string) error {
	err := ErrRawIO
	if c.fdst.closed() {
		err = errClosed
	}
	return c.opErr(op, err)
}
