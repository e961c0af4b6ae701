package netpoll

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Dialer opens outbound connections served by a poller. The zero value
// is ready to use.
//
// With Server nil, dialed connections live on a process-wide group of
// pollers, started on the first dial (a start that fails, for want of
// descriptors say, fails that dial, and the next one starts it) and
// never stopped, without a handler, with the default configuration as
// UPOLL changes it (so a quarter of GOMAXPROCS pollers, at least one,
// unless UPOLL sets pollers). They have no handler: use
// them as net.Conn or through Reader/Writer. Options may set their
// per-connection settings (WithTrigger, WithReadTimeout,
// WithWriteTimeout, WithIdleTimeout, WithMaxInput, WithMaxOutput,
// WithOnConnect, WithOnDisconnect) and the backend (a group per
// backend); poller-level options (WithPollers, WithWait, WithSpin,
// WithBalance, WithReusePort), WithDispatch and WithBufferBudget are
// ignored, except that WithBackend(BackendStd) together with one of the
// epoll backend's switches fails the dial as a conflict, as it fails
// NewServer.
//
// With Server set, dialed connections join that server's pollers and
// are served exactly like the connections it accepts: its handler runs
// when input arrives (never overlapping itself, input in order, an
// error or panic closing only that connection), its OnConnect hook runs
// first and its OnDisconnect hook last, its per-connection settings
// apply, and its Shutdown and Close cover them: they end the dials still
// connecting, and a later dial fails with ErrServerClosed before it
// connects. A server that never
// calls Serve is a poller group the caller owns for outbound
// connections only.
//
// The handler is chosen at dial time, not attached later: a
// connection's owner never changes, so input that arrives before Dial
// returns is held and handed to the handler (after OnConnect) as soon
// as Dial has succeeded. Nothing runs for a dial that fails (refused,
// timed out, cancelled): neither hook nor handler.
type Dialer struct {
	// Timeout bounds the whole dial (resolution and connect); 0: none.
	// As in Go's net.Dialer, a negative Timeout has passed already: the
	// dial fails at once with a timeout.
	Timeout time.Duration
	// KeepAlive is the TCP keep-alive idle time; 0: 15 s, < 0: off.
	KeepAlive time.Duration
	// Options configure the dialed connections of the default group
	// (see above); with Server set they must be empty, the server's
	// options apply.
	Options []Option
	// Server, if set, is the group of pollers whose handler and hooks
	// serve the dialed connections (see above); nil: the process-wide
	// default group.
	Server *Server
	// Context is the value of each dialed connection's Context, set
	// before its OnConnect hook or handler first runs.
	Context any
	// Resolver, if set, looks up host names and ports; nil:
	// net.DefaultResolver.
	Resolver *net.Resolver
}

// resolver returns the resolver of d's dials.
func (d *Dialer) resolver() *net.Resolver {
	if d.Resolver != nil {
		return d.Resolver
	}
	return net.DefaultResolver
}

// dialGroup is the lazily started pollers of dialed connections.
var dialGroup = (&lazyGroup{}).get

// backendDialGroups are the default groups of dialers whose Options ask
// for another backend than UPOLL gives the default one.
var backendDialGroups = [...]func() (*group, error){
	BackendEpoll: (&lazyGroup{opts: []Option{WithBackend(BackendEpoll)}}).get,
	BackendStd:   (&lazyGroup{opts: []Option{WithBackend(BackendStd)}}).get,
	BackendUring: (&lazyGroup{opts: []Option{WithBackend(BackendUring)}}).get,
}

// lazyGroup is a process-wide group of pollers, started by the first
// dial that needs it and kept from then on. A start that fails is not
// kept: its error (EMFILE at the descriptor limit, say) is that dial's,
// and the next dial tries again, as a NewServer would.
type lazyGroup struct {
	g    atomic.Pointer[group]
	mu   sync.Mutex // serializes the starts
	opts []Option
}

func (l *lazyGroup) get() (*group, error) {
	if g := l.g.Load(); g != nil {
		return g, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if g := l.g.Load(); g != nil {
		return g, nil
	}
	g, err := newGroup(nil, l.opts...)
	if err != nil {
		return nil, err
	}
	l.g.Store(g)
	return g, nil
}

// Dial connects to addr on network "tcp", "tcp4", "tcp6" or "unix".
func Dial(network, addr string) (*Conn, error) {
	var d Dialer
	return d.DialContext(context.Background(), network, addr)
}

// DialContext connects with a nonblocking connect completed through the
// poller (EPOLLOUT, then SO_ERROR). ctx cancellation and d.Timeout abort
// it; the error is then Go's net.Dialer's: a *net.OpError with Op
// "dial", naming the address, that wraps Go's net's own errors. For a
// timeout that is "i/o timeout", a net.Error whose Timeout and
// Temporary are true, errors.Is context.DeadlineExceeded and not
// os.ErrDeadlineExceeded; for a cancellation, "operation was
// canceled", errors.Is context.Canceled. (Go's net.Dialer itself wraps
// os.ErrDeadlineExceeded instead when the deadline it sets on the
// connecting socket fires before ctx's timer: test a dial timeout with
// net.Error's Timeout, or on upoll with errors.Is
// context.DeadlineExceeded.) If they end the name lookup instead, the
// error is Go's net.Dialer's: a *net.OpError with Op "dial", no
// address, wrapping the resolver's *net.DNSError (IsTimeout and
// errors.Is context.DeadlineExceeded for a timeout, errors.Is
// context.Canceled for a cancellation). Dial errors name the network
// as given ("tcp4" stays "tcp4").
//
// A host name may resolve to several addresses. They are dialed one at
// a time, in the order the resolver returns them, until one connects.
// Where a deadline applies (d.Timeout or ctx's, whichever comes first),
// each address gets an equal share of the time left, but at least 2 s
// where that much is left, so that an address that does not answer
// cannot use up the whole dial, and the dial as a whole never outlasts
// the deadline. This is what Go's net does without its dual-stack race
// (net.Dialer with a negative FallbackDelay): IPv4 and IPv6 addresses
// are not dialed in parallel. Under BackendStd Go's net.Dialer dials,
// racing the two families as it does by default. If no address
// connects, the error is a *net.OpError with Op "dial" that names the
// first address and wraps the first address's error, unless ctx is
// cancelled before the last address is tried: as in Go's net, it then
// names the address not tried and wraps Go's cancellation error.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (*Conn, error) {
	if d.Timeout != 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	g, o, err := d.groupFor()
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if g.owner.cfg.Backend == BackendStd {
		c, err := d.stdDial(ctx, g, o, network, addr)
		if err != nil {
			return nil, err
		}
		c.startStd(o.holdsDialRunner())
		return c, nil
	}
	c, err := d.connect(ctx, g, o, network, addr)
	if err != nil {
		return nil, err
	}
	// Counted here, not by register: a dial that fails, or a socket
	// that connected to itself and was dropped, was no connection.
	c.p.ctr.totalConns.Add(1)
	c.start()
	return c, nil
}

// errMissingAddress is Go's net's error for a dial of an empty address.
var errMissingAddress = errors.New("missing address")

// errDialOptions reports Options set on a Dialer that names a Server.
var errDialOptions = errors.New("netpoll: Dialer.Options must be empty when Dialer.Server is set (the server's options apply)")

// groupFor returns the pollers and the owner of the connections d
// dials.
func (d *Dialer) groupFor() (*group, *owner, error) {
	if s := d.Server; s != nil {
		if s.done == nil {
			return nil, nil, errZeroServer
		}
		if len(d.Options) > 0 {
			return nil, nil, errDialOptions
		}
		return &s.group, &s.owner, nil
	}
	if len(d.Options) == 0 {
		g, err := dialGroup()
		if err != nil {
			return nil, nil, err
		}
		return g, &g.owner, nil
	}
	// The budget is a Server's: WithBufferBudget is ignored here (see
	// Dialer), so its value must not fail the dial either. Options that
	// fail start no pollers.
	opts := append(d.Options[:len(d.Options):len(d.Options)], func(c *Config) { c.BufferBudget = 0 })
	cfg, err := buildConfig(opts, false)
	if err != nil {
		return nil, nil, err
	}
	g, err := dialGroup()
	if err != nil {
		return nil, nil, err
	}
	if cfg.Backend != g.owner.cfg.Backend {
		if g, err = backendDialGroups[cfg.Backend](); err != nil {
			return nil, nil, err
		}
	}
	o := &owner{cfg: cfg}
	o.cfg.Dispatch = DispatchPool
	return g, o, nil
}

// connect resolves addr and connects to the first address that
// answers. The connection it returns is registered but its runner is
// held (see start).
func (d *Dialer) connect(ctx context.Context, g *group, o *owner, network, addr string) (*Conn, error) {
	if addr == "" && (network == "unix" || network == "tcp" || network == "tcp4" || network == "tcp6") {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errMissingAddress} // as Go's net
	}
	// handedOn is set once the dial has handed on the pollers inside a
	// handler (yieldHandlers): a handler that dials is then no poller's
	// leader any more, and a second hand-off, for the connect after
	// the lookup or for a later address, would take the duty from
	// another handler for nothing.
	var handedOn bool
	switch network {
	case "unix":
		c, err := d.dial(ctx, g, o, network, unixSockaddr(addr), &handedOn)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: &net.UnixAddr{Name: addr, Net: "unix"}, Err: err}
		}
		return c, nil
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrUnsupportedNetwork}
	}
	aps, err := resolveTCP(ctx, d.resolver(), network, addr, &handedOn)
	if err != nil {
		// As Go's net: the lookup's error as the resolver gave it (a
		// *net.DNSError also when ctx ended the lookup), naming no
		// address.
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	host, _, _ := net.SplitHostPort(addr)
	deadline, hasDeadline := ctx.Deadline()
	var first error
	for i, ap := range aps {
		var ad time.Time
		if hasDeadline {
			var ok bool
			if ad, ok = addrDeadline(time.Now(), deadline, len(aps)-i); !ok {
				if first == nil {
					first = mapCtxErr(context.DeadlineExceeded)
				}
				break
			}
		}
		if err := ctx.Err(); err != nil {
			// As Go's net: a cancellation ends the dial before this
			// address, and the error names it.
			return nil, &net.OpError{Op: "dial", Net: network, Addr: dialErrAddr(ap, host), Err: mapCtxErr(err)}
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if hasDeadline && ad.Before(deadline) {
			actx, cancel = context.WithDeadline(ctx, ad)
		}
		c, err := d.dialTCP(actx, g, o, network, ap, &handedOn)
		cancel()
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, &net.OpError{Op: "dial", Net: network, Addr: dialErrAddr(aps[0], host), Err: first}
}

// minAddrTime is the least time an address of several gets to connect
// where the deadline leaves that much.
const minAddrTime = 2 * time.Second

// addrDeadline returns the deadline for dialing the first of left
// addresses when the whole dial must end by deadline: an equal share of
// the time left, at least minAddrTime (taken from the later addresses)
// or, where less than that is left, all of it. ok is false when no
// time is left.
func addrDeadline(now, deadline time.Time, left int) (t time.Time, ok bool) {
	rest := deadline.Sub(now)
	if rest <= 0 {
		return time.Time{}, false
	}
	share := rest / time.Duration(left)
	if share < minAddrTime {
		share = min(minAddrTime, rest)
	}
	return now.Add(share), true
}

// dialTCP connects to one TCP address for network.
func (d *Dialer) dialTCP(ctx context.Context, g *group, o *owner, network string, ap netip.AddrPort, handedOn *bool) (*Conn, error) {
	sa := tcpSockaddr(ap, zoneIndex(ap.Addr().Zone()))
	c, err := d.dial(ctx, g, o, network, sa, handedOn)
	// A connect to a free local port in the ephemeral range can
	// connect the socket to itself (simultaneous open); Go's net
	// retries that too.
	for i := 0; err == nil && i < 2 && c.selfConnected(); i++ {
		c.closeSelfConnected()
		c, err = d.dial(ctx, g, o, network, sa, handedOn)
	}
	if err == nil && c.selfConnected() {
		c.closeSelfConnected()
		err = errConnRefused
	}
	return c, err
}

// closeSelfConnected closes a dialed socket connected to itself, which
// leaves LiveConns at once, as a failed dial's (closeUnstarted): no
// input can have come, its only peer being itself, which sent nothing.
func (c *Conn) closeSelfConnected() {
	c.closeUnstarted(nil)
	c.countDead()
}

// resolveTCP returns the addresses of addr (host:port) that network
// admits, in the resolver's order; never none without an error. Before
// a lookup of the host it hands on the pollers inside a handler, unless
// *handedOn says the dial did, and sets it.
func resolveTCP(ctx context.Context, r *net.Resolver, network, addr string, handedOn *bool) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := r.LookupPort(ctx, network, portStr)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ips := []netip.Addr{ip}
		if ip == netip.IPv6Unspecified() {
			// As Go's net (go.dev/issue/18806): "::" is followed by
			// "0.0.0.0", for a system that listens on "::" but cannot
			// connect to it, and for tcp4.
			ips = append(ips, netip.IPv4Unspecified())
		}
		// A literal of the other family is refused, as Go's net does:
		// tcp6 takes no IPv4 address (nor one mapped into IPv6).
		var aps []netip.AddrPort
		for _, ip := range ips {
			v4 := ip.Is4() || ip.Is4In6()
			if network == "tcp4" && !v4 || network == "tcp6" && v4 {
				continue
			}
			aps = append(aps, netip.AddrPortFrom(ip, uint16(port)))
		}
		if len(aps) == 0 {
			return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
		}
		return aps, nil
	}
	if host == "" {
		// As Go's net: no host is the unspecified address, looked up
		// nowhere, which the kernel connects to this system: IPv4's
		// for tcp and tcp4, IPv6's for tcp6 (a lookup of "localhost"
		// found no IPv6 address where /etc/hosts names only
		// 127.0.0.1, and asked a Resolver Go's net never asks).
		ip := netip.IPv4Unspecified()
		if network == "tcp6" {
			ip = netip.IPv6Unspecified()
		}
		return []netip.AddrPort{netip.AddrPortFrom(ip, uint16(port))}, nil
	}
	ipnet := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
	// The lookup may wait for a DNS server as long as a connect waits
	// for its peer: a handler dialing on a poller's leader hands the
	// poller on first, as waitConnect does. A literal address never
	// gets here.
	if !*handedOn {
		yieldHandlers()
		*handedOn = true
	}
	ips, err := r.LookupNetIP(ctx, ipnet, host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	aps := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		aps[i] = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	}
	return aps, nil
}

// dial connects one socket and returns it registered on a poller; its
// errors will name network (see Conn.network). handedOn is the dial's
// (see connect).
func (d *Dialer) dial(ctx context.Context, g *group, o *owner, network string, sa sockaddr, handedOn *bool) (*Conn, error) {
	family := sa.family()
	if err := ctx.Err(); err != nil {
		return nil, mapCtxErr(err)
	}
	if g.closing.Load() {
		// Before the connect, which the peer would see: admit refuses
		// the socket of a group that closes meanwhile.
		return nil, ErrServerClosed
	}
	fd, err := sysSocket(family)
	if err != nil {
		return nil, err
	}
	if family != afUnix {
		if err := setTCPOptions(fd, d.KeepAlive); err != nil {
			sysClose(fd)
			return nil, err
		}
	}
	if h := testHookDialSocket.Load(); h != nil {
		(*h)(fd, sa)
	}
	inProgress, err := sysConnect(fd, sa)
	if err != nil {
		sysClose(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	c := newConn(fd, g.pickDial(), o, network)
	c.SetContext(d.Context)
	if inProgress {
		c.flags.Or(fConnecting)
	}
	if o.holdsDialRunner() {
		// Hold the runner until the dial has succeeded (see start):
		// input arriving meanwhile only marks it to run again, and a
		// failed dial closes a connection whose hooks never ran.
		if o.cfg.OnConnect != nil {
			c.flags.Or(fConnectHook)
		}
		c.hstate.Store(hRunning)
	}
	// The dial's own reference, taken before the connection can be
	// closed (its group's Close or Shutdown may close it from now on):
	// the descriptor stays open for the dial's system calls on it
	// (pollConnect's poll and SO_ERROR, the addresses below) until the
	// dial returns.
	c.incref()
	if err := g.admit(func() error { return c.p.register(c) }); err != nil {
		sysClose(fd) // never registered: no destroy, c is dropped
		return nil, err
	}
	defer c.decref()
	if inProgress {
		if err := c.waitConnect(ctx, handedOn); err != nil {
			c.closeUnstarted(err)
			return nil, err
		}
		if o.cfg.Trigger == EdgeTriggered {
			// Input that came with the connect's event was not read
			// (the event only completed the connect), and an edge
			// comes once: have the poller read.
			c.p.kick(c)
		}
	}
	if h := testHookDialConnected.Load(); h != nil {
		(*h)(c)
	}
	if family == afUnix {
		// As Go's net: the peer's name as the kernel gives it (the name
		// the listener bound, which a relative path or a link need not
		// spell), else the path dialed.
		if psa, err := sysGetpeername(fd); err == nil && psa.unix {
			sa = psa
		}
		c.setPeer(sa)
		// As Go's net: the name the kernel gives the unbound socket,
		// which is "@" on Linux (the syscall packages' rewrite of an
		// empty name, read as abstract).
		lsa, err := sysGetsockname(fd)
		if err != nil {
			lsa = unixSockaddr("")
		}
		c.laddr = &addrBox{sockaddrToAddr(lsa)}
	} else {
		if sa.ap.Addr().IsUnspecified() {
			// As Go's net: the peer's name as the kernel gives it
			// (a dial to "0.0.0.0" reaches 127.0.0.1).
			if psa, err := sysGetpeername(fd); err == nil {
				sa = psa
			}
		}
		c.setPeer(sa)
		if lsa, err := sysGetsockname(fd); err == nil {
			c.laddr = localAddrBox(lsa)
		}
	}
	return c, nil
}

// testHookDialSocket, when set by a test, runs in dial between making
// the socket and connecting it. Atomic: an earlier test's dial may still
// run while a test sets it.
var testHookDialSocket atomic.Pointer[func(fd int, sa sockaddr)]

// testHookDialConnected, when set by a test, runs in dial once the
// socket has connected, before dial reads its addresses.
var testHookDialConnected atomic.Pointer[func(c *Conn)]

// dialErrAddr is the peer address ap that the errors of a dial name, host
// being the host of the address dialed: as Go's net, the address as
// given, so with no host the port alone (":80"), not the unspecified
// address dialed.
func dialErrAddr(ap netip.AddrPort, host string) *net.TCPAddr {
	a := net.TCPAddrFromAddrPort(ap)
	if host == "" {
		a.IP = nil
	}
	return a
}

// dialedAddr is a dialed connection's local address in one allocation:
// the box, the address it holds and the bytes of its IP. The IP is the
// connection's own, as in Go's net: a caller may change the net.IP that
// LocalAddr returns, which must not change another connection's.
type dialedAddr struct {
	box addrBox
	tcp net.TCPAddr
	ip  [net.IPv6len]byte
}

// localAddrBox returns the boxed local address of a dialed socket.
func localAddrBox(sa sockaddr) *addrBox {
	if sa.unix || sa.zone != 0 {
		return &addrBox{sockaddrToAddr(sa)}
	}
	d := new(dialedAddr)
	var ip net.IP
	if a := sa.ap.Addr(); a.Is4() {
		// Four bytes, as Go's net gives (see sockaddrToAddr).
		ip = d.ip[:net.IPv4len]
		*(*[net.IPv4len]byte)(ip) = a.As4()
	} else {
		ip = d.ip[:]
		*(*[net.IPv6len]byte)(ip) = a.As16()
	}
	d.tcp = net.TCPAddr{IP: ip, Port: int(sa.ap.Port())}
	d.box.Addr = &d.tcp
	return &d.box
}

// closeUnstarted closes a dialed connection whose runner dial holds and
// never releases: no hook runs for it (OnConnect never ran). hDisc is
// set first, so that the close counts no OnDisconnect as due
// (owner.hooks, which a Server's Shutdown waits for); one that a racing
// close counted already is counted off.
//
// A connection whose connect failed or never completed leaves LiveConns
// here, before the dial returns, and not when its last reference goes:
// the poller that took the connect's outcome may hold one a while
// longer, and the dial's caller got no connection. Such a connection
// never had input to count off first (LiveConns reaching 0 says that
// the buffers are out of the counters too: see destroy), since the
// poller reads nothing while a connect is in flight nor from a broken
// socket, nor, once the close has begun, from any. One whose connect
// completed as its dial ended leaves LiveConns at its destroy.
func (c *Conn) closeUnstarted(err error) {
	defer func() {
		if c.flags.Load()&(fConnecting|fBroken) != 0 {
			c.countDead()
		}
	}()
	for {
		s := c.hstate.Load()
		if s&hDisc != 0 {
			if c.owner.cfg.OnDisconnect != nil {
				c.owner.hooks.Add(-1)
			}
			break
		}
		if c.hstate.CompareAndSwap(s, s|hDisc) {
			break
		}
	}
	c.closeWith(err)
}

// holdsDialRunner reports whether a dialed connection of o holds its
// runner from its making until start: whenever a handler or a hook is
// to run.
func (o *owner) holdsDialRunner() bool {
	return o.handler != nil || o.cfg.OnConnect != nil || o.cfg.OnDisconnect != nil
}

// start releases the runner that dial held: OnConnect, then the
// handler for any input that arrived since the connect.
func (c *Conn) start() {
	if !c.owner.holdsDialRunner() {
		return
	}
	if c.owner.cfg.Dispatch == DispatchInline {
		// On c's loop, as an accepted connection's (runOnLoop): run
		// here, on the dialing goroutine, a handler's wait would not
		// know it runs inline and would sleep inside DialContext.
		c.p.runOnLoop(c)
		return
	}
	c.dispatch()
}

func (c *Conn) selfConnected() bool {
	la, ok := c.LocalAddr().(*net.TCPAddr)
	ra := c.peerNetAddr()
	return ok && ra != nil && la.String() == ra.String()
}

// waitConnect waits for the poller to report the connect's outcome.
// The waiter it made is dropped again, so that an idle dialed
// connection costs what an accepted one does (nothing else can wait on
// it before the dial returns; a later wait makes a new one). It hands
// on the pollers inside a handler first, unless *handedOn says the dial
// did, and sets it.
func (c *Conn) waitConnect(ctx context.Context, handedOn *bool) error {
	if c.p.onLoop() || c.onInlineLoop() {
		return c.pollConnect(ctx)
	}
	w := waiterOf(&c.wwait)
	stop := context.AfterFunc(ctx, w.post)
	defer func() {
		stop()
		c.wwait.CompareAndSwap(w, nil)
	}()
	if !*handedOn && c.flags.Load()&fConnecting != 0 {
		// A handler dialing on a poller's leader would otherwise hold up
		// that poller (which may be the one to read the connect's
		// outcome, when it dials through its own server) until the
		// watchdog came.
		yieldHandlers()
		*handedOn = true
	}
	for c.flags.Load()&fConnecting != 0 {
		if err := ctx.Err(); err != nil {
			return mapCtxErr(err)
		}
		if c.fdst.closed() {
			// Closed by its group's Shutdown or Close.
			if err := c.closeReason(); err != nil {
				return err
			}
			return ErrServerClosed
		}
		w.sleep(0)
	}
	if c.flags.Load()&fBroken != 0 {
		return os.NewSyscallError("connect", c.errno())
	}
	return nil
}

// connectPollSlice bounds each of pollConnect's waits, so that it sees
// its context end and a close.
const connectPollSlice = 10 * time.Millisecond

// pollConnect is waitConnect for a dial on the loop of c's own poller
// (a DispatchInline handler of that poller dialing through its Server),
// or from an inline handler through another DispatchInline Server (see
// onInlineLoop): the loop alone takes the connect's event, and it is
// the dial waiting for it, or that loop may be inside a handler dialing
// through the caller's Server in turn. So the dial waits for the socket
// itself and takes the outcome as onEvent would, unless the poller took
// it first (takeConnect); the poller's event, when the loop gets to it,
// finds the connect taken. The caller's poller is held meanwhile, as by
// any inline handler that takes its time.
func (c *Conn) pollConnect(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return mapCtxErr(err)
		}
		if c.fdst.closed() {
			if err := c.closeReason(); err != nil {
				return err
			}
			return ErrServerClosed
		}
		d := connectPollSlice
		if dl, ok := ctx.Deadline(); ok {
			d = min(d, time.Until(dl))
		}
		ready, err := sysWaitWritable(int(c.fd), d)
		if err != nil {
			return err
		}
		if ready {
			break
		}
	}
	if !c.takeConnect() {
		// Another poller's loop is taking it now, between the flags'
		// two changes.
		for c.flags.Load()&fConnecting != 0 {
			runtime.Gosched()
		}
	}
	c.updateEvents()
	if c.flags.Load()&fBroken != 0 {
		return os.NewSyscallError("connect", c.errno())
	}
	return nil
}

// mapCtxErr maps a context's error to what Go's net reports for a dial
// that its context ends (net's mapErr): context.DeadlineExceeded to
// Go's timeout error, context.Canceled to its cancellation error; any
// other error stays.
func mapCtxErr(err error) error {
	timeout, canceled := goDialErrs()
	switch err {
	case context.DeadlineExceeded:
		return timeout
	case context.Canceled:
		return canceled
	}
	return err
}

// goDialErrs returns Go's net's errors for a dial that its context
// ends. They are unexported (net's errTimeout and errCanceled), so they
// are taken from Go's dials with a context already past its deadline
// and one already cancelled: Go's net refuses those before it makes a
// socket. Where that gave something else, the context's error stands.
var goDialErrs = sync.OnceValues(func() (timeout, canceled error) {
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel()
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	return goDialErr(expired), goDialErr(cancelled)
})

// goDialErr returns the error that Go's net.Dialer wraps for a dial
// with ctx, which has ended.
func goDialErr(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", "127.0.0.1:0")
	if c != nil {
		c.Close()
	}
	if oe, ok := err.(*net.OpError); ok && errors.Is(oe.Err, ctx.Err()) {
		return oe.Err
	}
	return ctx.Err()
}
