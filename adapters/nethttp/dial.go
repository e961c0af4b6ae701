package nethttp

import (
	"context"
	"net"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// Dialer dials connections served by upoll's pollers. Its DialContext fits
// http.Transport.DialContext, so HTTP clients run on upoll too:
//
//	tr := &http.Transport{DialContext: (&nethttp.Dialer{}).DialContext}
//
// The zero value is ready to use.
type Dialer struct {
	// Timeout bounds the whole dial, name lookup and connect; 0 means no
	// limit beyond the context's.
	Timeout time.Duration
	// KeepAlive is the TCP keep-alive period; 0 means the default (15 s,
	// as Go's net), negative disables keep-alive.
	KeepAlive time.Duration
	// Options configure the pollers that serve dialed connections.
	Options []netpoll.Option
	// Resolver, if set, looks up host names and ports; nil:
	// net.DefaultResolver.
	Resolver *net.Resolver
}

// DialContext connects to addr on network ("tcp", "tcp4", "tcp6" or
// "unix"). The returned net.Conn has the semantics of Go's own: blocking
// Read and Write with deadlines, CloseWrite and io.ReaderFrom, and errors
// that name the network as given ("tcp4" stays "tcp4"). A failed dial's
// error is netpoll.Dialer.DialContext's: a lookup that times out or is
// cancelled gives Go's *net.DNSError inside the *net.OpError.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := netpoll.Dialer{Timeout: d.Timeout, KeepAlive: d.KeepAlive, Options: d.Options, Resolver: d.Resolver}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c}, nil
}

// Dial is DialContext with context.Background.
func (d *Dialer) Dial(network, addr string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, addr)
}
