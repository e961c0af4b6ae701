package netpoll

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// listenBacklog is the listen(2) backlog; the kernel caps it at
// net.core.somaxconn.
const listenBacklog = 4096

// Listener is a listening socket (or, with WithReusePort, one
// SO_REUSEPORT socket per poller) to be served by Server.Serve.
type Listener struct {
	network string
	addr    net.Addr
	box     *addrBox // addr, shared by accepted connections
	fds     []*listenFD
	unlink  string       // unix socket path to remove on Close
	nl      net.Listener // BackendStd: Go's listener (fds is empty)

	closeOnce sync.Once
	closed    chan struct{}
	served    atomic.Bool // a Serve took it (Server.Serve); never cleared
}

// listenFD is one listening descriptor with its lifetime word, so that
// Close never closes it while the poller is inside accept4 on it. own
// says that the socket is the Listener's alone (Listen opened it), not
// a duplicate of a socket the caller still holds (WrapListener).
type listenFD struct {
	fd  int
	st  fdState
	own bool
}

// stop ends the listening at Listener.Close. The descriptor closes when
// its last reference goes, and even then the socket listens on while a
// kernel request holds it: io_uring's poll or accept request lets go of
// the file only when its cancellation has run, a moment after close(2),
// and a dial in between would complete into the backlog and be reset.
// Shutting down the reading side of a socket of its own stops the
// listening at once, so dials are refused from Close on, as with a
// net.Listener (accept4 on it then fails, which the acceptor takes for
// an unusable socket). A duplicate is left alone: shutdown acts on the
// socket, which the caller's listener shares and keeps listening on.
func (l *listenFD) stop() {
	if l.own {
		sysShutdownRead(l.fd)
	}
	l.release()
}

func (l *listenFD) release() {
	if l.st.decref() {
		sysClose(l.fd)
	}
}

// Listen opens a listener on network "tcp", "tcp4", "tcp6" or "unix"
// for a Server that is made separately with the same options: of them,
// only the backend, WithReusePort and WithPollers (how many SO_REUSEPORT
// sockets to open) matter here. Server.Listen takes those from its
// server instead, so that they are given once.
func Listen(network, address string, opts ...Option) (*Listener, error) {
	cfg, err := buildConfig(opts, true)
	if err != nil {
		return nil, err
	}
	return listen(network, address, &cfg)
}

// listen opens a listener for a server configured by cfg: Go's listener
// under BackendStd, else one socket, or with cfg.ReusePort one
// SO_REUSEPORT socket per poller.
func listen(network, address string, cfg *config) (*Listener, error) {
	n := 1
	if cfg.ReusePort {
		n = cfg.Pollers
	}
	ln := &Listener{network: network, closed: make(chan struct{})}
	var err error
	switch network {
	case "tcp", "tcp4", "tcp6", "unix":
		if cfg.Backend == BackendStd {
			err = ln.stdListen(network, address)
		} else if network == "unix" {
			err = ln.listenUnix(address)
		} else {
			err = ln.listenTCP(network, address, n, cfg.ReusePort)
		}
	default:
		err = ErrUnsupportedNetwork
	}
	if err != nil {
		ln.Close()
		if oe, ok := err.(*net.OpError); ok {
			return nil, oe // Go's net (BackendStd): said in full already
		}
		// As Go's net says it: the address asked for (set before the
		// bind; nil when it did not resolve).
		return nil, &net.OpError{Op: "listen", Net: network, Addr: ln.addr, Err: err}
	}
	ln.box = &addrBox{ln.addr}
	return ln, nil
}

// dualStack reports whether an IPv6 socket here can take IPv4 too
// (IPV6_V6ONLY off), as Go's net probes before it listens on a wildcard
// address with both families.
var dualStack = sync.OnceValue(func() bool {
	fd, err := sysSocket(afInet6)
	if err != nil {
		return false
	}
	defer sysClose(fd)
	return setIPv6Only(fd, false) == nil
})

func (ln *Listener) listenTCP(network, address string, n int, reusePort bool) error {
	ta, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return err
	}
	ln.addr = ta // for an error; the bound address replaces it
	family, v6only := afInet6, false
	ip, _ := netip.AddrFromSlice(ta.IP)
	switch {
	case network == "tcp6":
		v6only = true
		if !ip.IsValid() {
			ip = netip.IPv6Unspecified()
		}
	case network == "tcp" && (!ip.IsValid() || ip.Unmap().IsUnspecified()) && dualStack():
		// As in Go's net, a wildcard address (":80", "0.0.0.0:80",
		// "[::]:80") listens on both families where the system can.
		ip = netip.IPv6Unspecified()
	case network == "tcp4" || ip.Unmap().Is4() || !ip.IsValid():
		family = afInet4
		if !ip.IsValid() {
			ip = netip.IPv4Unspecified()
		}
	}
	port := ta.Port
	for range n {
		fd, err := sysSocket(family)
		if err != nil {
			return err
		}
		ln.fds = append(ln.fds, newListenFD(fd, true))
		if err := setReuseAddr(fd); err != nil {
			return err
		}
		if reusePort {
			if err := setReusePort(fd); err != nil {
				return err
			}
		}
		sa := tcpSockaddr(netip.AddrPortFrom(ip, uint16(port)), zoneIndex(ta.Zone))
		if family == afInet6 {
			if err := setIPv6Only(fd, v6only); err != nil {
				return err
			}
		}
		if err := sysBind(fd, sa); err != nil {
			return err
		}
		if err := sysListen(fd, listenBacklog); err != nil {
			return err
		}
		lsa, err := sysGetsockname(fd)
		if err != nil {
			return err
		}
		ln.addr = sockaddrToAddr(lsa)
		port = ln.addr.(*net.TCPAddr).Port // the other sockets share it
	}
	return nil
}

func (ln *Listener) listenUnix(path string) error {
	ln.addr = &net.UnixAddr{Name: path, Net: "unix"}
	fd, err := sysSocket(afUnix)
	if err != nil {
		return err
	}
	ln.fds = append(ln.fds, newListenFD(fd, true))
	if err := sysBind(fd, unixSockaddr(path)); err != nil {
		return err
	}
	// Close removes the socket file, as Go's UnixListener does; an
	// abstract name ("@name") and an automatic one (path "") have none.
	// A listen that fails from here on removes it too (listen closes
	// ln): the bind made it, and left behind, as Go's net leaves it, it
	// would fail the next Listen on the path with EADDRINUSE.
	if path != "" && path[0] != '@' {
		ln.unlink = path
	}
	if err := sysListen(fd, listenBacklog); err != nil {
		return err
	}
	// The bound name: an empty path gets an automatic abstract one.
	if lsa, err := sysGetsockname(fd); err == nil && lsa.unix && lsa.path != "" {
		ln.addr = sockaddrToAddr(lsa)
	}
	return nil
}

func newListenFD(fd int, own bool) *listenFD {
	l := &listenFD{fd: fd, own: own}
	l.st.init()
	return l
}

// WrapListener serves an existing *net.TCPListener or a
// *net.UnixListener of network "unix" (one of "unixpacket" or
// "unixgram" is refused with ErrUnsupportedNetwork): its descriptor is
// duplicated (close-on-exec, nonblocking), so l and the returned
// Listener can be closed independently. The caller should
// not Accept on l meanwhile. l does not tell whether it was opened on
// "tcp4" or "tcp6": the errors of the connections it accepts name
// "tcp" (or "unix"). The returned Listener is for a Server of
// the backend UPOLL selects; Server.WrapListener wraps l for that
// server's backend, whatever selected it.
func WrapListener(l net.Listener) (*Listener, error) {
	cfg, err := buildConfig(nil, true)
	if err != nil {
		return nil, err
	}
	return wrapListener(l, cfg.Backend)
}

// wrapListener wraps l, which must be a *net.TCPListener or a
// *net.UnixListener of network "unix", for a Server of backend b.
func wrapListener(l net.Listener, b Backend) (*Listener, error) {
	if l == nil {
		return nil, &net.OpError{Op: "listen", Err: errZeroListener}
	}
	var network string
	switch l.(type) {
	case *net.TCPListener:
		network = "tcp"
	case *net.UnixListener:
		// Go's "unixpacket" and "unixgram" listeners are UnixListeners
		// too; their connections keep message boundaries, which a
		// stream's reads would cut (a read drops what of a message does
		// not fit), so they are refused as Listen refuses them.
		if l.Addr().Network() != "unix" {
			return nil, &net.OpError{Op: "listen", Net: l.Addr().Network(), Addr: l.Addr(), Err: ErrUnsupportedNetwork}
		}
		network = "unix"
	default:
		return nil, &net.OpError{Op: "listen", Net: l.Addr().Network(), Addr: l.Addr(), Err: ErrUnsupportedNetwork}
	}
	if b == BackendStd {
		return &Listener{
			network: network,
			addr:    l.Addr(),
			box:     &addrBox{l.Addr()},
			nl:      stdWrap(l),
			closed:  make(chan struct{}),
		}, nil
	}
	rc, err := l.(interface {
		SyscallConn() (syscall.RawConn, error)
	}).SyscallConn()
	if err != nil {
		return nil, err
	}
	var rcErr error
	dupFD := -1
	if err := rc.Control(func(fd uintptr) { dupFD, rcErr = sysDup(int(fd)) }); err != nil {
		return nil, err
	}
	if rcErr != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: l.Addr(), Err: rcErr}
	}
	return &Listener{
		network: network,
		addr:    l.Addr(),
		box:     &addrBox{l.Addr()},
		fds:     []*listenFD{newListenFD(dupFD, false)},
		closed:  make(chan struct{}),
	}, nil
}

// Addr returns the listener's address.
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Close stops listening: from its return, dials to the listener's
// address fail (a TCP dial is refused, a Unix socket's path is removed),
// except that a WrapListener leaves the caller's listener, which shares
// the socket, listening. A Serve on this listener returns; connections
// already accepted stay open. Closing it again returns an error
// wrapping net.ErrClosed, as for a net.Listener.
func (ln *Listener) Close() error {
	if ln.closed == nil {
		return &net.OpError{Op: "close", Err: errZeroListener}
	}
	first := false
	ln.closeOnce.Do(func() {
		first = true
		close(ln.closed)
		if ln.nl != nil {
			ln.nl.Close()
		}
		for _, l := range ln.fds {
			if l.st.markClosed() {
				l.stop()
			}
		}
		if ln.unlink != "" {
			os.Remove(ln.unlink)
		}
	})
	if !first {
		return &net.OpError{Op: "close", Net: ln.network, Addr: ln.addr, Err: net.ErrClosed}
	}
	return nil
}

// localAddrFor returns the local address of an accepted connection:
// the listener's own unless its connections have their own
// (ownLocalAddrs: a wildcard or link-local address).
func (ln *Listener) localAddrFor(fd int) *addrBox {
	if !ownLocalAddrs(ln.addr) {
		return ln.box
	}
	if sa, err := sysGetsockname(fd); err == nil {
		return &addrBox{sockaddrToAddr(sa)}
	}
	return ln.box
}

// acceptor serves one listening descriptor on one poller.
type acceptor struct {
	lfd     *listenFD
	ln      *Listener
	srv     *Server
	p       *poller
	tag     int32
	backoff time.Duration // poller goroutine only
	failed  chan<- error  // Serve's: the error that ended accepting
	removed sync.Once
}

// acceptStep is what a listener does after a failed accept.
type acceptStep int

const (
	acceptNext    acceptStep = iota // the error concerned one queued connection: accept the next
	acceptBackOff                   // resources ran out: pause, then accept again
	acceptStop                      // the listening socket is unusable
)

// Accept backoff bounds for EMFILE/ENFILE: the listener is disarmed
// for the backoff (pending connections wait in the kernel's backlog,
// nothing is dropped), then re-armed; the delay doubles while the
// condition lasts and resets after a successful accept.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
	acceptBatch      = 128 // accepts per event, so a flood cannot starve I/O
)

// onReady accepts until EAGAIN (at most acceptBatch). Poller goroutine.
func (a *acceptor) onReady() {
	if !a.lfd.st.incref() {
		return
	}
	defer a.lfd.release()
	gate := &a.srv.gate
	for range acceptBatch {
		if a.lfd.st.closed() {
			// Listener.Close: a socket of its own is shut down and the
			// next accept fails, but a WrapListener duplicate is not
			// (the caller's listener shares it): stop here, or this
			// batch would take the caller's connections.
			return
		}
		if !gate.reserve() {
			gate.wait(a)
			return
		}
		fd, sa, err := a.p.ep.accept(a.lfd.fd)
		if err != nil {
			gate.release()
		}
		switch {
		case err == nil:
			a.backoff = 0
			a.srv.serveConn(fd, sa, a)
		case err == errAgain:
			return
		default:
			switch acceptStepAfter(err) {
			case acceptNext:
				continue
			case acceptBackOff:
				a.backOff()
				return
			}
			// The socket is unusable (e.g. shut down): stop polling it
			// rather than spin on a level-triggered error, and end the
			// Serve waiting on it.
			a.p.ep.mod(a.lfd.fd, 0, a.tag, 0)
			select {
			case a.failed <- err:
			default: // another of Serve's sockets failed first
			}
			return
		}
	}
}

func (a *acceptor) backOff() {
	a.backoff = min(max(a.backoff*2, minAcceptBackoff), maxAcceptBackoff)
	a.p.ctr.acceptBackoffs.Add(1)
	a.p.ep.mod(a.lfd.fd, 0, a.tag, 0)
	time.AfterFunc(a.backoff, a.arm)
}

// arm re-arms a's listener after a pause (a back-off, the accept gate),
// unless the listener has closed or a was removed from its poller.
func (a *acceptor) arm() {
	if !a.lfd.st.incref() {
		return
	}
	if a.p.listener(int(tagListener-a.tag)) == a {
		a.p.ep.mod(a.lfd.fd, evIn, a.tag, 0)
	}
	a.lfd.release()
}

// remove deregisters the acceptor from its poller and drops the
// reference addListener took (once: Serve and the server's close may
// both call it).
func (a *acceptor) remove() {
	a.removed.Do(func() {
		a.p.ep.del(a.lfd.fd)
		a.lfd.release()
		a.p.removeListener(a)
	})
}
