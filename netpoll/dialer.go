package netpoll

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Dialer opens outbound connections served by a poller. The zero value
// is ready to use.
//
// Dialed connections live on a process-wide group of pollers, started
// on the first dial and never stopped: a Server without a handler, with
// the default configuration as UPOLL changes it (so a quarter of
// GOMAXPROCS pollers, at least one, unless UPOLL sets pollers).
// Options may set the per-connection settings (WithTrigger,
// WithReadTimeout, WithWriteTimeout, WithIdleTimeout, WithMaxInput,
// WithMaxOutput, WithOnDisconnect); poller-level options (WithPollers,
// WithWait, WithSpin, WithBalance, WithReusePort) are ignored.
// Dialed connections have no handler: use them as net.Conn or through
// Reader/Writer.
type Dialer struct {
	// Timeout bounds the whole dial (resolution and connect); 0: none.
	Timeout time.Duration
	// KeepAlive is the TCP keep-alive idle time; 0: 15 s, < 0: off.
	KeepAlive time.Duration
	// Options configure the dialed connections (see above).
	Options []Option
}

// dialGroup is the lazily started pollers of dialed connections.
var dialGroup = sync.OnceValues(func() (*Server, error) {
	return NewServer(nil)
})

// Dial connects to addr on network "tcp", "tcp4", "tcp6" or "unix".
func Dial(network, addr string) (*Conn, error) {
	var d Dialer
	return d.DialContext(context.Background(), network, addr)
}

// DialContext connects with a nonblocking connect completed through the
// poller (EPOLLOUT, then SO_ERROR). ctx cancellation and d.Timeout abort
// it; the error is then a *net.OpError wrapping context.Canceled or
// os.ErrDeadlineExceeded.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (*Conn, error) {
	if d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	g, err := dialGroup()
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	o := &g.owner
	if len(d.Options) > 0 {
		cfg, err := buildConfig(d.Options, false)
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
		o = &owner{cfg: cfg}
		o.cfg.Dispatch = DispatchPool
	}
	switch network {
	case "unix":
		c, err := d.dial(ctx, g, o, unix.AF_UNIX, &unix.SockaddrUnix{Name: addr})
		if err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: &net.UnixAddr{Name: addr, Net: "unix"}, Err: err}
		}
		return c, nil
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: ErrUnsupportedNetwork}
	}
	aps, err := resolveTCP(ctx, network, addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: mapCtxErr(err)}
	}
	var first error
	for _, ap := range aps {
		sa, family := tcpSockaddr(ap, 0)
		c, err := d.dial(ctx, g, o, family, sa)
		// A connect to a free local port in the ephemeral range can
		// connect the socket to itself (simultaneous open); Go's net
		// retries that too.
		for i := 0; err == nil && i < 2 && c.selfConnected(); i++ {
			c.Close()
			c, err = d.dial(ctx, g, o, family, sa)
		}
		if err == nil && c.selfConnected() {
			c.Close()
			err = unix.ECONNREFUSED
		}
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, &net.OpError{Op: "dial", Net: network, Addr: net.TCPAddrFromAddrPort(aps[0]), Err: first}
}

func resolveTCP(ctx context.Context, network, addr string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := net.DefaultResolver.LookupPort(ctx, network, portStr)
	if err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip, uint16(port))}, nil
	}
	if host == "" {
		host = "localhost"
	}
	ipnet := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[network]
	ips, err := net.DefaultResolver.LookupNetIP(ctx, ipnet, host)
	if err != nil {
		return nil, err
	}
	aps := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		aps[i] = netip.AddrPortFrom(ip.Unmap(), uint16(port))
	}
	return aps, nil
}

// dial connects one socket and returns it registered on a poller.
func (d *Dialer) dial(ctx context.Context, g *Server, o *owner, family int, sa unix.Sockaddr) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapCtxErr(err)
	}
	fd, err := sysSocket(family, unix.SOCK_STREAM)
	if err != nil {
		return nil, err
	}
	if family != unix.AF_UNIX {
		if err := setTCPOptions(fd, d.KeepAlive); err != nil {
			sysClose(fd)
			return nil, err
		}
	}
	inProgress, err := sysConnect(fd, sa)
	if err != nil {
		sysClose(fd)
		return nil, os.NewSyscallError("connect", err)
	}
	c := newConn(fd, g.pick(nil), o, family == unix.AF_UNIX)
	if inProgress {
		c.flags.Or(fConnecting)
	}
	if err := c.p.register(c); err != nil {
		sysClose(fd)
		return nil, err
	}
	if inProgress {
		if err := c.waitConnect(ctx); err != nil {
			c.closeWith(err)
			return nil, err
		}
	}
	if family == unix.AF_UNIX {
		c.raddr = packPeer(addrUnix, 0, [4]byte{})
		c.laddr = &addrBox{&net.UnixAddr{Name: "", Net: "unix"}}
	} else {
		c.setPeer(sa)
		if lsa, err := sysGetsockname(fd); err == nil {
			c.laddr = &addrBox{sockaddrToAddr(lsa)}
		}
	}
	return c, nil
}

func (c *Conn) selfConnected() bool {
	la, ok := c.LocalAddr().(*net.TCPAddr)
	ra := c.peerNetAddr()
	return ok && ra != nil && la.String() == ra.String()
}

// waitConnect waits for the poller to report the connect's outcome.
func (c *Conn) waitConnect(ctx context.Context) error {
	w := waiterOf(&c.wwait)
	stop := context.AfterFunc(ctx, w.post)
	defer stop()
	for c.flags.Load()&fConnecting != 0 {
		if err := ctx.Err(); err != nil {
			return mapCtxErr(err)
		}
		w.sleep(0)
	}
	if c.flags.Load()&fBroken != 0 {
		return os.NewSyscallError("connect", unix.Errno(c.cerr.Load()))
	}
	return nil
}

// mapCtxErr maps a context's deadline to the error Go's net reports
// for a dial timeout (os.ErrDeadlineExceeded, a net.Error with
// Timeout() true); cancellation stays context.Canceled.
func mapCtxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return os.ErrDeadlineExceeded
	}
	return err
}
