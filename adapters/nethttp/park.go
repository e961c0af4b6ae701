package nethttp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/upoll/upoll/netpoll"
)

// DefaultLinger is how long a keep-alive connection must have been idle
// before EnableParking's listener parks it, unless WithLinger says
// otherwise. A client that sends its next request within it never pays
// for a park and an un-park.
const DefaultLinger = 250 * time.Millisecond

// minParkedIdle is the shortest idle timeout a parked connection gets:
// the pollers sweep for idle connections at a quarter of the shortest
// timeout they were given, and one that expires within a few
// milliseconds must not make them sweep that often for good.
const minParkedIdle = 10 * time.Millisecond

// ParkOption configures EnableParking.
type ParkOption func(*parkConfig)

// MinLinger is the shortest linger EnableParking accepts: a sweep of the
// parked connections runs every quarter of the linger, and a shorter one
// would keep a core busy sweeping.
const MinLinger = time.Millisecond

type parkConfig struct {
	linger time.Duration
}

// WithLinger sets how long a connection must wait idle for its next
// request before it is parked (default DefaultLinger): it parks between
// d and d+d/4 after srv began to wait. d must be at least MinLinger.
func WithLinger(d time.Duration) ParkOption { return func(c *parkConfig) { c.linger = d } }

// EnableParking makes ln, a listener made by Listen, park the idle
// keep-alive connections of srv: once a connection has waited longer
// than the linger for its next request, with nothing buffered on either
// side, the listener takes it away from srv — srv's goroutine for it and
// its buffers are freed as if the client had closed — and keeps the
// socket on a poller, with no goroutine, buffer or timer of its own.
// When the next request's first bytes arrive, Accept returns the same
// socket again, as a new connection, with those bytes unread.
//
// It wraps srv.ConnState, calling the hook srv already has; call it
// before srv.Serve(ln) and leave srv.ConnState alone afterwards. What the
// application sees differently: around a parked period ConnState reports
// StateClosed and then, at the next request, StateNew (and StateActive);
// ConnContext runs again for it; RemoteAddr and LocalAddr are unchanged.
// srv.IdleTimeout (or ReadTimeout, when IdleTimeout is zero) still closes
// a connection that stays idle too long, parked or not (a parked one up
// to a quarter of the timeout, at most 1 s, late); Shutdown and
// Close close parked connections at once, when they close ln, but
// srv.SetKeepAlivesEnabled(false) does not (they are no longer srv's:
// one stays open until its next request or its idle timeout); a client
// that closes or resets a parked connection frees it. The request that
// un-parks a connection is read under srv's ReadHeaderTimeout,
// ReadTimeout and MaxHeaderBytes like any first request.
//
// A connection is parked only when srv is provably between requests: it
// reported StateIdle, set its idle read deadline (once), then blocked
// reading the next request's first bytes into the start of the same
// buffer it read the connection's first request into (so it holds no
// byte of the next one), and the listener holds none either. Hijacked connections never park. Neither do
// connections whose TLS srv terminates: EnableParking refuses a srv with
// a TLSConfig, and a connection that reaches ConnState as anything but
// the listener's own (a *tls.Conn from tls.NewListener or ServeTLS) is
// never parked, since TLS state cannot be parked.
//
// One goroutine per listener ends the lingers; the listener's Close
// stops it. EnableParking returns an error if ln was not made by Listen,
// already parks, is closed (errors.Is net.ErrClosed), srv has a
// TLSConfig, or the linger is below MinLinger.
func EnableParking(srv *http.Server, ln net.Listener, opts ...ParkOption) error {
	l, ok := ln.(*listener)
	if !ok {
		return errors.New("nethttp: EnableParking: the listener was not made by nethttp.Listen")
	}
	if srv.TLSConfig != nil {
		return errors.New("nethttp: EnableParking: srv has a TLSConfig: a TLS connection cannot be parked")
	}
	cfg := parkConfig{linger: DefaultLinger}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.linger < MinLinger {
		return fmt.Errorf("nethttp: EnableParking: linger %v is below MinLinger (%v)", cfg.linger, MinLinger)
	}
	t := &lot{
		l:      l,
		linger: cfg.linger,
		idle:   l.srv.Config().IdleTimeout,
		parked: make(map[*netpoll.Conn]bool),
		active: make(map[*conn]struct{}),
		done:   make(chan struct{}),
	}
	t.wakeFn = t.wake
	if !l.lot.CompareAndSwap(nil, t) {
		return errors.New("nethttp: EnableParking: the listener already parks connections")
	}
	// Close stops the sweep of the lot it finds; one that closed before
	// the lot was stored found none. Close marks the listener closed
	// before it loads the lot, so one of the two sees the other.
	if l.isClosed() {
		t.close()
		return &net.OpError{Op: "enableparking", Net: l.network, Addr: l.Addr(), Err: net.ErrClosed}
	}
	go t.sweep()
	user := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		t.observe(c, s)
		if user != nil {
			user(c, s)
		}
		if s == http.StateClosed {
			t.released(c)
		}
	}
	return nil
}

// ParkStats counts a parking listener's work.
type ParkStats struct {
	Parked  int64 // connections parked now
	Parks   int64 // connections parked so far
	Unparks int64 // parked connections handed back to Accept by new input
	// Bytes is the user-space memory the parked connections hold now:
	// their netpoll.Conn and the listener's record of them.
	Bytes int64
	// WokeBytes is the input that woke parked connections, summed: what
	// Accept handed back unread with them.
	WokeBytes int64
}

// parkedConnBytes is what one parked connection holds in user space.
const parkedConnBytes = int64(unsafe.Sizeof(netpoll.Conn{})) + 48

// Parking returns the counters of a listener on which EnableParking was
// called, and false for any other listener.
func Parking(ln net.Listener) (ParkStats, bool) {
	l, ok := ln.(*listener)
	if !ok {
		return ParkStats{}, false
	}
	t := l.lot.Load()
	if t == nil {
		return ParkStats{}, false
	}
	t.mu.Lock()
	n := int64(len(t.parked))
	t.mu.Unlock()
	return ParkStats{
		Parked:    n,
		Parks:     t.parks.Load(),
		Unparks:   t.unparks.Load(),
		Bytes:     n * parkedConnBytes,
		WokeBytes: t.woke.Load(),
	}, true
}

// lot keeps a listener's parked connections. A parked connection is a
// *netpoll.Conn with an input notification (netpoll's NotifyInput) and
// an entry here; when input comes, wake hands it back to Accept.
type lot struct {
	l      *listener
	linger time.Duration
	idle   time.Duration // the pollers' own idle timeout, restored on wake
	wakeFn func(*netpoll.Conn)

	mu     sync.Mutex
	parked map[*netpoll.Conn]bool // true: park gave it an idle timeout
	active map[*conn]struct{}     // accepted, not yet closed or parked: the sweeper's
	closed bool
	done   chan struct{} // closed by close: the sweeper stops

	tick atomic.Int64 // sweeps so far: the clock of lingers

	parks, unparks, woke atomic.Int64
}

// observe follows srv's view of a connection (the ConnState wrapper).
func (t *lot) observe(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*conn)
	if !ok || c.pk == nil || c.pk.lot != t {
		return
	}
	pk := c.pk
	switch s {
	case http.StateIdle:
		pk.state.CompareAndSwap(psActive, psIdle)
	case http.StateActive:
		pk.state.CompareAndSwap(psIdle, psActive)
		pk.state.CompareAndSwap(psIdleArmed, psActive)
	case http.StateHijacked:
		pk.pin()
	}
}

// pin keeps the connection from parking: its Close closes the socket.
// Too late once the sweeper began to park it (psParking and on).
func (pk *parking) pin() {
	for {
		st := pk.state.Load()
		if st >= psParking || pk.state.CompareAndSwap(st, psPinned) {
			return
		}
	}
}

// sweepsPerLinger is how many sweeps a linger lasts: a connection
// parks between one linger and a quarter more after its idle Read began.
const sweepsPerLinger = 4

// sweep ends the linger of connections that waited long enough, until
// the listener closes. One goroutine per listener, and no timer per
// connection: a lingering Read only notes the sweep count it began at.
func (t *lot) sweep() {
	tk := time.NewTicker(t.linger / sweepsPerLinger)
	defer tk.Stop()
	var due []*conn
	for {
		select {
		case <-t.done:
			return
		case <-tk.C:
		}
		now := t.tick.Add(1)
		due = due[:0]
		t.mu.Lock()
		for c := range t.active {
			if c.pk.state.Load() == psLinger && now-c.pk.since.Load() > sweepsPerLinger {
				due = append(due, c)
			}
		}
		t.mu.Unlock()
		for _, c := range due {
			c.wake()
		}
		clear(due)
	}
}

// addActive and forgetActive keep the set of connections the sweeper
// looks at: those Accept returned and that are neither closed nor
// parked.
func (t *lot) addActive(c *conn) {
	t.mu.Lock()
	t.active[c] = struct{}{}
	t.mu.Unlock()
}

func (t *lot) forgetActive(c *conn) {
	t.mu.Lock()
	delete(t.active, c)
	t.mu.Unlock()
}

// park takes over nc, whose server has let it go between requests.
// rdl is the server's read deadline (clock.go; 0: none): the idle
// timeout, which the pollers enforce from now on. Its input is watched
// from released on.
func (t *lot) park(nc *netpoll.Conn, rdl int64) {
	nc.SetReadDeadline(time.Time{})
	if rdl != 0 {
		d := time.Duration(rdl - nowNs())
		if d <= 0 {
			nc.Close()
			return
		}
		nc.SetIdleTimeout(max(d, minParkedIdle))
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		nc.Close()
		return
	}
	t.parked[nc] = rdl != 0
	t.mu.Unlock()
	t.parks.Add(1)
}

// released runs once srv and its ConnState hook are done with c: a
// parked socket's input is watched only from then on. srv closes a
// connection before it reports StateClosed, so a socket watched from
// park on could be woken by the next request and reach Accept, and srv
// report StateNew for it, before StateClosed for the connection parked.
func (t *lot) released(c net.Conn) {
	pc, ok := c.(*conn)
	if !ok || pc.pk == nil || pc.pk.lot != t || pc.pk.state.Load() != psParked {
		return
	}
	nc := pc.Conn
	t.mu.Lock()
	_, parked := t.parked[nc]
	t.mu.Unlock()
	if parked {
		nc.NotifyInput(t.wakeFn) // runs wake at once if input came meanwhile
	}
}

// wake runs when a parked connection has input, on its poller (or at
// once in released): a client that left is closed, one that sent bytes goes
// back to Accept with them.
func (t *lot) wake(nc *netpoll.Conn) {
	parked, timed := t.take(nc)
	if !parked {
		return // the lot is closing it
	}
	if timed {
		nc.SetIdleTimeout(t.idle)
	}
	if !nc.IsActive() {
		nc.Close()
		return
	}
	t.unparks.Add(1)
	t.woke.Add(int64(nc.Reader().Len()))
	t.l.push(nc)
}

// take forgets nc and reports whether it was parked, and whether park
// gave it an idle timeout.
func (t *lot) take(nc *netpoll.Conn) (parked, timed bool) {
	t.mu.Lock()
	timed, parked = t.parked[nc]
	delete(t.parked, nc)
	t.mu.Unlock()
	return parked, timed
}

// close closes every parked connection and parks no more: it runs when
// the listener closes (Shutdown and Close of http.Server close it first).
func (t *lot) close() {
	t.mu.Lock()
	if !t.closed {
		close(t.done)
	}
	t.closed = true
	conns := make([]*netpoll.Conn, 0, len(t.parked))
	for nc := range t.parked {
		conns = append(conns, nc)
	}
	clear(t.parked)
	t.mu.Unlock()
	for _, nc := range conns {
		nc.Close()
	}
}
