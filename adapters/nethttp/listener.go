package nethttp

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// acceptQueue is how many accepted connections may wait for Accept in the
// queue. When it is full (an application that stopped calling Accept)
// the listener stops accepting until Accept has taken it down to half:
// further connections wait in the kernel's backlog, as Go's do. The few
// that pollers accepted before the pause took effect wait in a
// goroutine each, so a poller never waits for Accept. A variable for
// the tests.
var acceptQueue = 1024

// listener is a net.Listener whose connections are served by a netpoll
// Server in accept mode: the Server has no handler, its OnConnect hook
// hands each new connection to Accept, and input stays buffered in the
// connection until the application Reads it.
//
// Closing the listener stops accepting but, as with Go's net, leaves the
// accepted connections open: the pollers run on until the last of them is
// closed (http.Server.Shutdown relies on that).
type listener struct {
	nl      *netpoll.Listener
	srv     *netpoll.Server
	network string

	queue chan *netpoll.Conn
	done  chan struct{} // closed by Close or when Serve fails

	mu      sync.Mutex
	closed  bool
	live    map[*netpoll.Conn]struct{} // handed out or queued, not yet disconnected
	stopped bool                       // srv.Close has been started
	failure error                      // Serve's error, if it ended on its own

	lot atomic.Pointer[lot] // set by EnableParking

	// dl is Accept's deadline (SetDeadline), zero for none; dlMoved is
	// closed, and replaced, when it changes, so that an Accept blocked
	// under the old one looks again. Both under dlMu.
	dlMu    sync.Mutex
	dl      time.Time
	dlMoved chan struct{}

	// pmu orders the pauses of srv's accepting (queue full) and their
	// end (queue down to half); paused, changed under pmu, says one is
	// in force, and lets Accept skip pmu when none is.
	pmu    sync.Mutex
	paused atomic.Bool
}

// Listen announces on the local network address, like net.Listen, and
// returns a net.Listener whose connections are served by upoll's pollers.
// network is "tcp", "tcp4", "tcp6" or "unix". opts configure the pollers
// (backend, count, trigger, wait strategy, buffers...); OnConnect and
// OnDisconnect hooks among them still run.
//
// The listener can be handed to anything that takes a net.Listener:
// http.Server.Serve, tls.NewListener, grpc.Server.Serve... It also has
// *net.TCPListener's SetDeadline, for Accept. It has no File or
// SyscallConn: its sockets (one per poller with WithReusePort) belong to
// the pollers.
//
// The pollers accept connections as they arrive, ahead of Accept, which
// takes them from a queue: a connection waiting there holds its Conn and
// what it has sent (up to MaxInput), where Go's would wait in the
// kernel's backlog. At most 1024 wait so: beyond them the pollers stop
// accepting, and further connections wait in the backlog as Go's do,
// until Accept has taken the queue down to half. Close closes the
// connections Accept never returned; their clients read EOF, where those
// of Go's backlog are reset.
//
// netpoll.WithMaxConns(n) among opts bounds the connections the listener
// holds, queued or returned by Accept and not yet closed: beyond n the
// pollers stop accepting until one closes, as netutil.LimitListener's
// Accept would wait, but with the waiting connections left in the
// kernel's backlog rather than accepted ahead.
func Listen(network, addr string, opts ...netpoll.Option) (net.Listener, error) {
	l := &listener{
		network: network,
		queue:   make(chan *netpoll.Conn, acceptQueue),
		done:    make(chan struct{}),
		live:    make(map[*netpoll.Conn]struct{}),
		dlMoved: make(chan struct{}),
	}
	// The caller's own hooks, if any, still run: find them by applying the
	// options to a scratch Config, then append hooks that call them and
	// feed Accept. The options themselves are passed on unchanged, so
	// whatever precedence netpoll gives them (and its UPOLL override)
	// holds.
	var user netpoll.Config
	for _, o := range opts {
		if o != nil {
			o(&user)
		}
	}
	onConnect, onDisconnect := user.OnConnect, user.OnDisconnect
	opts = opts[:len(opts):len(opts)]
	if onConnect == nil && onDisconnect == nil && user.Backend != netpoll.BackendStd {
		// The Server has no handler, so dispatch decides only where the
		// hooks run. Ours never block (push falls back to a goroutine when
		// the queue is full): run them on the poller. On the pool, a burst
		// of N connects left up to N workers idling until they expire
		// (docs/tuning.md). BackendStd has no dispatch, and asking for
		// one beside it in code is a configuration error: not when the
		// caller's options name it.
		opts = append(opts, netpoll.WithDispatch(netpoll.DispatchInline))
	}
	opts = append(opts,
		netpoll.WithOnConnect(func(c *netpoll.Conn) {
			if onConnect != nil {
				onConnect(c)
			}
			l.push(c)
		}),
		netpoll.WithOnDisconnect(func(c *netpoll.Conn, err error) {
			// Deferred: netpoll recovers a hook's panic, and a caller's
			// hook that panics must not leave c counted live, or the
			// pollers would never stop.
			defer l.forget(c)
			if onDisconnect != nil {
				onDisconnect(c, err)
			}
		}))
	srv, err := netpoll.NewServer(nil, opts...)
	if err != nil {
		return nil, err
	}
	// The server's own configuration opens the socket(s): with
	// WithReusePort, one per poller it started.
	nl, err := srv.Listen(network, addr)
	if err != nil {
		srv.Close()
		return nil, err
	}
	l.srv, l.nl = srv, nl
	go l.serve()
	return l, nil
}

// serve runs the netpoll Server. If it ends before Close (the socket
// failed), Accept reports why from then on.
func (l *listener) serve() {
	err := l.srv.Serve(l.nl)
	l.mu.Lock()
	if !l.closed {
		l.failure = err
	}
	l.mu.Unlock()
	l.Close()
}

// push runs in OnConnect: it queues c for Accept.
func (l *listener) push(c *netpoll.Conn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		c.Close()
		return
	}
	l.live[c] = struct{}{}
	l.mu.Unlock()
	select {
	case l.queue <- c:
		l.queued()
		if len(l.queue) == cap(l.queue) {
			l.pauseAccept()
		}
	default:
		// The application is behind: stop accepting, and wait for it
		// off the poller.
		l.pauseAccept()
		go l.pushWait(c)
	}
}

// pauseAccept stops srv from accepting while the queue is full. It
// holds srv (HoldAccept), apart from the application's PauseAccept on
// Server(l): neither's end undoes the other.
func (l *listener) pauseAccept() {
	l.pmu.Lock()
	if !l.paused.Load() && len(l.queue) >= cap(l.queue) {
		l.paused.Store(true)
		l.srv.HoldAccept()
		// Accept resumes only when it sees the pause: calls that took
		// from the queue between the look at its length and the Store
		// did not, and may have emptied it. Look again.
		if len(l.queue) <= cap(l.queue)/2 {
			l.paused.Store(false)
			l.srv.ReleaseAccept()
		}
	}
	l.pmu.Unlock()
}

// resumeAccept lets srv accept again once Accept has taken the queue
// down to half.
func (l *listener) resumeAccept() {
	l.pmu.Lock()
	if l.paused.Load() && len(l.queue) <= cap(l.queue)/2 {
		l.paused.Store(false)
		l.srv.ReleaseAccept()
	}
	l.pmu.Unlock()
}

// pushWait queues c once Accept makes room, or closes it if the listener
// closes first.
func (l *listener) pushWait(c *netpoll.Conn) {
	select {
	case l.queue <- c:
		l.queued()
	case <-l.done:
		c.Close()
	}
}

// queued runs after a send to the queue: Close may have drained the queue
// just before it, so drain again and leave no connection in a queue
// nobody reads.
func (l *listener) queued() {
	if l.isClosed() {
		l.drain()
	}
}

// forget runs in OnDisconnect. The last connection of a closed listener
// stops the pollers.
func (l *listener) forget(c *netpoll.Conn) {
	if t := l.lot.Load(); t != nil && c != nil {
		t.take(c)
	}
	l.mu.Lock()
	delete(l.live, c)
	stop := l.closed && len(l.live) == 0 && !l.stopped
	if stop {
		l.stopped = true
	}
	l.mu.Unlock()
	if stop {
		// Not inline: OnDisconnect may run on a poller that Close waits for.
		go l.stop()
	}
}

// stopGrace bounds how long stop lets closed connections finish sending
// their queued output (netpoll lingers at most 5 s).
const stopGrace = 10 * time.Second

// stop stops the pollers once the last connection is closed: after the
// connections that still send what was written before their Close have
// done so (Shutdown waits for them), as Go's kernel-owned sockets would.
func (l *listener) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopGrace)
	l.srv.Shutdown(ctx)
	cancel()
	l.srv.Close()
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// drain closes the connections that were accepted but never returned by
// Accept.
func (l *listener) drain() {
	for {
		select {
		case c := <-l.queue:
			c.Close()
		default:
			return
		}
	}
}

// Accept waits for and returns the next connection. After Close it returns
// an error for which errors.Is(err, net.ErrClosed) holds.
func (l *listener) Accept() (net.Conn, error) {
	for {
		select {
		case <-l.done:
			return nil, l.acceptErr()
		default:
		}
		l.dlMu.Lock()
		dl, moved := l.dl, l.dlMoved
		l.dlMu.Unlock()
		var expired <-chan time.Time // nil, never ready, without a deadline
		if !dl.IsZero() {
			// As Go's: a deadline that has passed fails Accept even
			// when connections wait.
			d := time.Until(dl)
			if d <= 0 {
				return nil, l.timeoutErr()
			}
			t := time.NewTimer(d)
			defer t.Stop() // once per deadline Accept saw: few
			expired = t.C
		}
		select {
		case c := <-l.queue:
			if l.paused.Load() {
				l.resumeAccept()
			}
			return l.wrap(c), nil
		case <-l.done:
			return nil, l.acceptErr()
		case <-expired:
			return nil, l.timeoutErr()
		case <-moved:
		}
	}
}

// SetDeadline sets the deadline of Accept, as *net.TCPListener's does:
// an Accept blocked when it passes, or called after, fails with a
// *net.OpError whose Err is os.ErrDeadlineExceeded (a timeout). A zero
// t means no deadline. It applies to an Accept already blocked. After
// Close it returns net.ErrClosed, as Go's does.
func (l *listener) SetDeadline(t time.Time) error {
	if l.isClosed() {
		return net.ErrClosed
	}
	l.dlMu.Lock()
	l.dl = t
	close(l.dlMoved)
	l.dlMoved = make(chan struct{})
	l.dlMu.Unlock()
	return nil
}

func (l *listener) timeoutErr() error {
	return &net.OpError{Op: "accept", Net: l.network, Addr: l.Addr(), Err: os.ErrDeadlineExceeded}
}

// wrap makes the net.Conn that Accept returns for c.
func (l *listener) wrap(c *netpoll.Conn) net.Conn {
	if t := l.lot.Load(); t != nil {
		pc := &conn{Conn: c, pk: &parking{lot: t}}
		t.addActive(pc)
		return pc
	}
	return &conn{Conn: c}
}

func (l *listener) acceptErr() error {
	l.mu.Lock()
	err := l.failure
	l.mu.Unlock()
	if err == nil {
		err = net.ErrClosed
	}
	if oe, ok := err.(*net.OpError); ok {
		return oe // Serve's: an accept *net.OpError already, as Go's Accept gives
	}
	return &net.OpError{Op: "accept", Net: l.network, Addr: l.Addr(), Err: err}
}

// Close stops accepting. Connections already returned by Accept stay open;
// those still queued are closed.
func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return &net.OpError{Op: "close", Net: l.network, Addr: l.Addr(), Err: net.ErrClosed}
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	l.nl.Close() // fails only if the server, shutting down, closed it first
	l.drain()
	if t := l.lot.Load(); t != nil {
		t.close()
	}
	l.forget(nil) // stops the pollers now if no connection is live
	return nil
}

// Addr returns the listener's network address.
func (l *listener) Addr() net.Addr { return l.nl.Addr() }

// Server returns the netpoll Server behind a listener made by Listen, for
// its configuration and per-poller counters (Stats); nil for any other
// listener. Its PauseAccept holds until its ResumeAccept, whatever the
// listener's own pause (its queue full) does meanwhile; the listener
// goes on holding its pause while its queue is full, after a
// ResumeAccept too.
func Server(ln net.Listener) *netpoll.Server {
	if l, ok := ln.(*listener); ok {
		return l.srv
	}
	return nil
}
