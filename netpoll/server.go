package netpoll

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"sync"
	"time"
)

// Server serves connections accepted from one or more Listeners with
// a group of pollers.
//
// With a Handler, the handler runs whenever input arrives (see
// Handler). With a nil Handler ("accept mode") nothing runs on input:
// it is buffered until the connection's owner reads it; the owner
// learns of new connections through WithOnConnect (the net.Listener
// adapter feeds its Accept that way).
//
// A Dialer whose Server field names s dials connections that s serves
// like accepted ones; a Server that never calls Serve is a poller group
// for outbound connections.
type Server struct {
	group

	gate acceptGate // MaxConns, PauseAccept

	mu        sync.Mutex
	acceptors []*acceptor
	listeners []*Listener
	done      chan struct{}
	closeOnce sync.Once
}

// errZeroServer is the error of a Server used without NewServer.
var errZeroServer = errors.New("netpoll: Server not made by NewServer")

// errZeroListener is the error of Serve or Close given a Listener that
// Listen or WrapListener did not make (nil, or a zero Listener).
var errZeroListener = errors.New("netpoll: Listener not made by Listen or WrapListener")

// NewServer starts the pollers of a server; Serve then feeds them
// connections. h may be nil (accept mode).
func NewServer(h Handler, opts ...Option) (*Server, error) {
	cfg, err := buildConfig(opts, h != nil)
	if err != nil {
		return nil, err
	}
	s := &Server{done: make(chan struct{})}
	if err := s.group.start(h, cfg); err != nil {
		return nil, err
	}
	s.gate.max = int64(s.owner.cfg.MaxConns)
	s.owner.gate = &s.gate
	return s, nil
}

// Listen opens a listener on network "tcp", "tcp4", "tcp6" or "unix"
// for s to Serve, as s's own configuration asks: on its backend, and
// with WithReusePort one SO_REUSEPORT socket per poller of s, so that
// those options are given once, to NewServer. Shutdown and Close close
// the listener, served or not; once they have begun, Listen returns
// ErrServerClosed.
func (s *Server) Listen(network, address string) (*Listener, error) {
	if s.done == nil {
		return nil, errZeroServer
	}
	ln, err := listen(network, address, &s.owner.cfg)
	if err != nil {
		return nil, err
	}
	return s.adopt(ln)
}

// WrapListener is WrapListener for s: the Listener it returns is of s's
// backend, so that s can Serve it. Shutdown and Close close it (not l),
// served or not; once they have begun, WrapListener returns
// ErrServerClosed.
func (s *Server) WrapListener(l net.Listener) (*Listener, error) {
	if s.done == nil {
		return nil, errZeroServer
	}
	ln, err := wrapListener(l, s.owner.cfg.Backend)
	if err != nil {
		return nil, err
	}
	return s.adopt(ln)
}

// adopt records ln among the listeners Shutdown and Close close, or
// closes it and returns ErrServerClosed once they have begun.
func (s *Server) adopt(ln *Listener) (*Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		ln.Close()
		return nil, ErrServerClosed
	}
	s.list(ln)
	return ln, nil
}

// list records ln among the listeners Shutdown and Close close, once
// (a listener from s.Listen is listed before Serve). s.mu must be held.
func (s *Server) list(ln *Listener) {
	if !slices.Contains(s.listeners, ln) {
		s.listeners = append(s.listeners, ln)
	}
}

// unlist forgets the acceptors and the listener of a Serve that
// returned: closed, or failed and left for its caller to close (see
// Serve), so a server that serves and closes listeners over its life
// keeps none of them.
func (s *Server) unlist(mine []*acceptor, ln *Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acceptors = slices.DeleteFunc(s.acceptors, func(a *acceptor) bool { return slices.Contains(mine, a) })
	s.listeners = slices.DeleteFunc(s.listeners, func(l *Listener) bool { return l == ln })
}

// Config returns the server's effective configuration.
func (s *Server) Config() Config { return s.owner.cfg }

// Serve accepts connections on ln until the server is shut down
// (ErrServerClosed), ln is closed (an error wrapping net.ErrClosed) or
// the listening socket fails for good (a *net.OpError with Op "accept"
// wrapping the system error, e.g. EINVAL once the socket is shut down
// outside upoll); ln stays open then, for the caller to close. Serve on a
// server whose Shutdown or Close has begun closes ln and returns
// ErrServerClosed. A Listener is served once: a second Serve of it, by
// this server or another, returns a *net.OpError wrapping
// ErrListenerServed and leaves the first one serving.
// Errors that concern one queued connection (ECONNABORTED and the
// network errors accept(2) lists) skip that connection; running out of
// descriptors or memory pauses accepting with a growing back-off (see
// Stats.AcceptBackoffs); so do MaxConns open connections and
// PauseAccept, until a connection closes or ResumeAccept (see
// Stats.AcceptPauses), connections meanwhile waiting in the kernel's
// backlog. Accepting runs on the pollers; Serve only waits.
func (s *Server) Serve(ln *Listener) error {
	switch {
	case ln == nil || ln.closed == nil:
		return &net.OpError{Op: "accept", Err: errZeroListener}
	case s.done == nil:
		return &net.OpError{Op: "accept", Net: ln.network, Addr: ln.addr, Err: errZeroServer}
	}
	if std := s.owner.cfg.Backend == BackendStd; std != (ln.nl != nil) {
		return &net.OpError{Op: "accept", Net: ln.network, Addr: ln.addr, Err: errBackendMismatch}
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close() // as adopt does: Shutdown and Close close every listener given to s
		return ErrServerClosed
	}
	if !ln.served.CompareAndSwap(false, true) {
		s.mu.Unlock()
		return &net.OpError{Op: "accept", Net: ln.network, Addr: ln.addr, Err: ErrListenerServed}
	}
	if ln.nl != nil {
		s.list(ln)
		s.mu.Unlock()
		err := s.stdAccept(ln)
		s.unlist(nil, ln)
		return err
	}
	base := s.rr.Add(1)
	var mine []*acceptor
	failed := make(chan error, 1)
	for i, lfd := range ln.fds {
		a := &acceptor{lfd: lfd, ln: ln, srv: s, p: s.pollers[(base+uint64(i))%uint64(len(s.pollers))], failed: failed}
		if err := a.p.addListener(a); err != nil {
			ln.served.Store(false) // not served: a later Serve may try again
			s.mu.Unlock()
			for _, a := range mine {
				a.remove()
			}
			if ln.isClosed() {
				// Closed before its Serve began: listed by Listen, it
				// would stay listed for the Server's life.
				s.unlist(nil, ln)
			}
			return &net.OpError{Op: "accept", Net: ln.network, Addr: ln.addr, Err: err}
		}
		mine = append(mine, a)
	}
	s.acceptors = append(s.acceptors, mine...)
	s.list(ln)
	s.mu.Unlock()

	var err error
	select {
	case <-s.done:
		return ErrServerClosed
	case <-ln.closed:
	case err = <-failed:
	}
	for _, a := range mine {
		a.remove()
	}
	s.unlist(mine, ln)
	// Close shuts the socket down after marking ln closed, so an accept
	// error it caused is reported as the close.
	switch {
	case s.closing.Load():
		return ErrServerClosed
	case ln.isClosed():
		err = net.ErrClosed
	default:
		err = os.NewSyscallError(acceptCall, err)
	}
	return &net.OpError{Op: "accept", Net: ln.network, Addr: ln.addr, Err: err}
}

// serveConn sets up an accepted socket. Runs on the accepting poller.
func (s *Server) serveConn(fd int, sa sockaddr, a *acceptor) {
	isUnix := sa.unix
	if !isUnix {
		setTCPOptions(fd, 0) // best effort, as in Go's net
	}
	p := s.pick(a)
	c := newConn(fd, p, &s.owner, a.ln.network)
	c.setPeer(sa)
	c.laddr = a.ln.localAddrFor(fd)
	c.flags.Or(fTotalDue)
	if s.gate.max > 0 {
		c.flags.Or(fHeld)
	}
	hook := s.owner.cfg.OnConnect != nil
	if hook {
		c.flags.Or(fConnectHook | fHookAhead)
		c.hstate.Store(hRunning) // the runner starts with OnConnect
	}
	if err := s.admit(func() error { return p.register(c) }); err != nil {
		// Counted before the close, which the peer may see at once.
		p.ctr.refused.Add(1)
		s.gate.release()
		sysClose(fd)
		return
	}
	if hook {
		// Only the run started here calls OnConnect (the runner is
		// held): counted before it can start, so that the acceptors
		// stay within hooksAhead of the hooks.
		s.gate.hookAccepted()
		if s.owner.cfg.Dispatch == DispatchInline && p != a.p {
			p.runOnLoop(c) // see runOnLoop
			return
		}
		c.dispatch()
	}
}

// beginClose stops accepting: Serve calls return ErrServerClosed.
func (s *Server) beginClose() {
	s.closeOnce.Do(func() {
		s.shut()
		s.mu.Lock()
		close(s.done)
		acceptors, listeners := s.acceptors, s.listeners
		s.acceptors, s.listeners = nil, nil
		s.mu.Unlock()
		for _, a := range acceptors {
			a.remove()
		}
		for _, ln := range listeners {
			ln.Close()
		}
	})
}

// Shutdown stops accepting and closes each connection once it is
// idle, and returns nil once all are closed and their OnDisconnect
// hooks have returned. A connection is idle when no input waits for it
// and it owes no answer: nothing unread in its socket (nor, under
// BackendUring, received by the ring and not yet read), no input
// buffered, no handler run scheduled or running, no output queued.
// Shutdown looks at each connection every few milliseconds, so a
// request that has reached the server's socket when Shutdown looks is
// read, handled and answered, and its connection closes after the
// answer is sent; a request that arrives after the look may find the
// connection closed (its peer sees EOF, or a reset where its bytes meet
// the close), as with any server closing idle connections. A look
// counts only if no pass of the connection's poller, which alone moves
// input from the socket into the buffer, overlapped it, so input on
// its way is seen; a poller held by a handler that runs on it
// (DispatchInline) lets its connections be closed once the handler
// returns. Exceptions, under BackendStd, where each connection's
// goroutine reads its socket and Shutdown looks from its own: input
// that goroutine is moving into the buffer at the instant of the look,
// and, on systems other than Unix ones, input still in the socket, are
// not seen.
// If ctx ends first, Shutdown returns ctx.Err() then, leaving the
// connections still busy open (a handler still running, a peer that
// keeps sending, output its peer does not read); Close ends them.
// In accept mode connections belong to their owner: Shutdown waits for
// the owner to close them, but ends a Dialer's dials still connecting
// (their owner has no connection yet), as Close does.
// Called by an OnDisconnect hook, Shutdown waits for that hook to
// return too, and by a handler, for that handler's connection to be
// idle: either returns only when ctx ends. Call it on a goroutine of
// its own there.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.done == nil {
		return errZeroServer
	}
	s.beginClose()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range s.pollers {
			if p.std || p.loopEnded() {
				// Each connection's goroutine reads its socket, or no
				// loop is left to move input: looked at from here.
				p.closeIdle()
				continue
			}
			// A look from here while no pass runs, and the poller's
			// own at the end of a pass (closeIdle), woken for it if it
			// waits.
			p.closeQuietIdle()
			p.shutLooks.Add(1)
			p.wake()
		}
		if s.live() == 0 && s.owner.hooks.Load() == 0 {
			s.stopPollers()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// shutdownIdle reports whether Shutdown may close c now; closeIdle
// asks, between two passes of c's poller. A dial still
// connecting is idle: its held runner has nothing to finish, and in
// accept mode its owner has no connection yet to close. Other
// connections of an accept-mode server are their owner's to close.
//
// A connection with a handler is idle when no input waits for it
// anywhere and it owes no answer: nothing unread below it
// (inputQueued), no input buffered, no runner scheduled or running, no
// output queued. The first look, in memory, spares a busy connection
// the system call. The second looks upstream first, in the order input
// moves (kernel, inbound buffer, runner, outbound buffer), so that input
// which moves on during the look is seen at its next stop.
func (c *Conn) shutdownIdle() bool {
	if c.flags.Load()&fConnecting != 0 {
		return true
	}
	if c.owner.handler == nil || c.busy() || c.inputQueued() {
		return false
	}
	return !c.busy()
}

// busy reports whether c has input buffered, a runner scheduled or
// running, or output queued, looked at in that order.
func (c *Conn) busy() bool {
	return c.in.Len() != 0 || c.hstate.Load()&hRunning != 0 || c.out.Len() != 0
}

// inputQueued reports whether input that c's poller (under BackendStd,
// its goroutine) has not read yet waits below c: in the socket, or
// under BackendUring in its receive's completions or stash. Never once
// the peer's end or an error was read: nothing more will be. A system
// call: for Shutdown's look, not for the data path.
func (c *Conn) inputQueued() bool {
	if c.flags.Load()&(fPeerEOF|fBroken) != 0 || !c.incref() {
		return false
	}
	defer c.decref() // the descriptor stays c's during the look
	if c.sock != nil {
		return c.stdInputQueued()
	}
	return c.p.ep.inputQueued(int(c.fd))
}

// Close closes listeners and every connection at once (queued output
// is dropped), then stops the pollers and returns once they have
// stopped. Handlers still running see their connection closed; Close
// does not wait for them, except under DispatchInline, where a handler
// runs on its poller's loop and that poller stops when it returns.
// Called by such a handler, or by an OnConnect hook on a poller's
// loop, of this Server or another, Close returns without waiting for
// the pollers, which stop once the caller has returned.
func (s *Server) Close() error {
	if s.done == nil {
		return errZeroServer
	}
	s.beginClose()
	for _, p := range s.pollers {
		p.reg.each(func(c *Conn) {
			c.closeWith(ErrServerClosed)
			c.finishClose() // no linger
		})
	}
	s.stopPollers()
	return nil
}

// Stats returns the server's counters, summed over its pollers.
func (s *Server) Stats() Stats { return s.group.stats() }
