package nethttp

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// A parking connection's state, as the listener knows it. srv is the
// http.Server, observed through the ConnState wrapper of EnableParking
// and through the calls it makes on the conn:
//
//	psNew        accepted; the first Read records srv's buffer  ─▶ psActive
//	psActive     a request may be in flight                      ─▶ psIdle on StateIdle
//	psIdle       srv reported StateIdle                          ─▶ psIdleArmed on SetReadDeadline,
//	                                                                psActive on a Read or StateActive
//	psIdleArmed  srv set its idle deadline                       ─▶ psLinger on a Read into the start
//	                                                                of srv's buffer; psActive on any
//	                                                                other Read, SetReadDeadline or
//	                                                                StateActive
//	psLinger     srv waits in Read for the next request          ─▶ psActive when the Read returns;
//	                                                                psParking by the sweeper once the
//	                                                                linger has passed
//	psParking    the sweeper woke the Read to park it            ─▶ psEOF when it returns io.EOF;
//	                                                                psActive if bytes beat the wake
//	psEOF        io.EOF returned; srv's Close parks              ─▶ psParked (psClosed: see below)
//	psPinned     hijacked, or its File taken: never parks
//	psParked     handed to the lot; this conn is dead (a new one
//	             comes from Accept when input arrives): its methods
//	             fail as a closed conn's and leave the socket alone
//	             (deadconn.go)
//	psClosed     closed for real
//
// Close in any state but psEOF closes the socket (Shutdown's closing of
// idle connections included); so does Close in psEOF while a call on
// the socket is in flight (enter).
const (
	psNew uint32 = iota
	psActive
	psIdle
	psIdleArmed
	psLinger
	psPinned
	psParking
	psEOF
	psParked
	psClosed
)

// parking is the per-connection part of EnableParking.
type parking struct {
	lot   *lot
	state atomic.Uint32
	since atomic.Int64 // the lot's sweep tick when the linger began
	rdl   atomic.Int64 // srv's read deadline (clock.go); 0: none
	calls atomic.Int32 // calls on the socket in flight (enter)
	// mu orders the sweeper's wake-up (a read deadline in the past)
	// against the restoring of srv's deadline when the Read returns.
	mu sync.Mutex
	// base is srv's first read buffer (len 0, its capacity kept): a
	// read into its start means srv's buffer is empty. Read goroutine
	// only.
	base []byte
}

// errParked is what a dead (parked) conn's methods return.
var errParked = net.ErrClosed

// closedErr is the error of op on a dead conn, shaped as Go's closed
// conn's: its network as dialed or listened on, both addresses.
func (c *conn) closedErr(op string) error {
	return &net.OpError{Op: op, Net: c.Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errParked}
}

// closedLocalErr is closedErr for the calls whose errors name the local
// address only, as Go's: the deadline setters and the buffer sizes
// ("set"), RawConn's Control ("raw-control").
func (c *conn) closedLocalErr(op string) error {
	return &net.OpError{Op: op, Net: c.Network(), Addr: c.LocalAddr(), Err: errParked}
}

// enter reports whether the conn is live for its holder (not parked),
// and then counts a call on its socket until exit. A Close that would
// park the socket while a call is counted closes it instead, so a call
// that began before the park (a CloseWrite, a SetLinger) cannot reach
// the socket once a new conn serves it; one that begins after it sees
// psParked. (Both sides use sequentially consistent atomics: the call
// adds then loads the state, Close swaps the state then loads the
// count.)
func (pk *parking) enter() bool {
	pk.calls.Add(1)
	if pk.state.Load() == psParked {
		pk.calls.Add(-1)
		return false
	}
	return true
}

func (pk *parking) exit() { pk.calls.Add(-1) }

// Read is netpoll.Conn's Read, except that with parking on it parks the
// connection when srv waits too long for its next request.
func (c *conn) Read(p []byte) (int, error) {
	pk := c.pk
	if pk == nil {
		return c.Conn.Read(p)
	}
	switch st := pk.state.Load(); st {
	case psNew:
		pk.base = p[:0]
		pk.state.CompareAndSwap(psNew, psActive)
	case psIdle:
		pk.state.CompareAndSwap(psIdle, psActive)
	case psIdleArmed:
		if len(p) > 0 && cap(pk.base) > 0 && cap(p) == cap(pk.base) && &p[0] == &pk.base[:1][0] {
			return c.lingerRead(p)
		}
		pk.state.CompareAndSwap(psIdleArmed, psActive)
	case psEOF:
		return 0, io.EOF
	case psParked:
		return 0, c.closedErr("read")
	}
	return c.Conn.Read(p)
}

// lingerRead is srv's wait for the next request. It is an ordinary
// Read under srv's own deadline, except that the lot's sweeper may wake
// it once the linger has passed (wake): it then returns io.EOF, and the
// Close that follows parks the connection.
func (c *conn) lingerRead(p []byte) (int, error) {
	pk := c.pk
	pk.since.Store(pk.lot.tick.Load())
	if !pk.state.CompareAndSwap(psIdleArmed, psLinger) {
		return c.Conn.Read(p) // closed meanwhile
	}
	n, err := c.Conn.Read(p)
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.state.CompareAndSwap(psLinger, psActive) {
		return n, err
	}
	// The sweeper woke it (psParking), or Close closed it (psClosed);
	// Close may still come between here and the CAS below, and wins.
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		if pk.state.CompareAndSwap(psParking, psEOF) {
			return 0, io.EOF
		}
		return n, err
	}
	// Bytes (or an error) came before the wake-up: serve them, and put
	// srv's deadline back in place of the wake-up's.
	if pk.state.CompareAndSwap(psParking, psActive) {
		c.Conn.SetReadDeadline(timeOfNs(pk.rdl.Load()))
	}
	return n, err
}

// wake ends the linger of a connection that lingered long enough: its
// Read returns with a deadline error, and lingerRead parks it. The
// sweeper calls it.
func (c *conn) wake() {
	pk := c.pk
	pk.mu.Lock()
	if pk.state.CompareAndSwap(psLinger, psParking) {
		c.Conn.SetReadDeadline(time.Unix(1, 0))
	}
	pk.mu.Unlock()
}

// SetReadDeadline is netpoll.Conn's; with parking on it also records the
// deadline (srv's idle timeout, when it is between requests).
func (c *conn) SetReadDeadline(t time.Time) error {
	if c.pk != nil {
		return c.parkSetReadDeadline(t)
	}
	// Apart, so that this path, which net/http takes six times per
	// request, has no defer to set up.
	return c.Conn.SetReadDeadline(t)
}

func (c *conn) parkSetReadDeadline(t time.Time) error {
	pk := c.pk
	if !pk.enter() {
		return c.closedLocalErr("set")
	}
	defer pk.exit()
	pk.rdl.Store(deadlineNs(t))
	if !pk.state.CompareAndSwap(psIdle, psIdleArmed) {
		pk.state.CompareAndSwap(psIdleArmed, psActive)
	}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines, as SetReadDeadline and
// SetWriteDeadline.
func (c *conn) SetDeadline(t time.Time) error {
	if c.pk == nil {
		return c.Conn.SetDeadline(t)
	}
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetWriteDeadline is netpoll.Conn's.
func (c *conn) SetWriteDeadline(t time.Time) error {
	return c.live("set", true, func() error { return c.Conn.SetWriteDeadline(t) })
}

// Write is netpoll.Conn's; a conn whose socket was parked is closed.
func (c *conn) Write(p []byte) (int, error) {
	pk := c.pk
	if pk == nil {
		return c.Conn.Write(p)
	}
	if !pk.enter() {
		return 0, c.closedErr("write")
	}
	defer pk.exit()
	return c.Conn.Write(p)
}

// Close closes the connection; with parking on, the Close that srv makes
// after an idle Read returned io.EOF to park parks it instead.
func (c *conn) Close() error {
	pk := c.pk
	if pk == nil {
		return c.Conn.Close()
	}
	for {
		switch st := pk.state.Load(); st {
		case psEOF:
			if pk.state.CompareAndSwap(psEOF, psParked) {
				pk.lot.forgetActive(c)
				if pk.calls.Load() != 0 {
					// A call on the socket is in flight: it may
					// act on it after the park (see enter).
					pk.state.Store(psClosed)
					return c.Conn.Close()
				}
				pk.lot.park(c.Conn, pk.rdl.Load())
				return nil
			}
		case psParked, psClosed:
			return c.closedErr("close")
		default:
			if pk.state.CompareAndSwap(st, psClosed) {
				pk.lot.forgetActive(c)
				return c.Conn.Close()
			}
		}
	}
}
