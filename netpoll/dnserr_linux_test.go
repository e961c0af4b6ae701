package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"testing"
	"time"
)

// silentHost is a name that only silentResolver is asked about.
const silentHost = "silent.upoll.test."

// silentResolver returns Go's resolver (PreferGo) with its queries going
// to a UDP socket on 127.0.0.1 that never answers, so that a lookup
// lasts until its context ends. Each call makes a new Resolver: lookups
// of one name on one Resolver share a flight, and the dials compared
// must each do their own.
func silentResolver(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	server := pc.LocalAddr().String()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp4", server)
		},
	}
}

// errShape is what a caller can see of an error: its type, the fields of
// the *net.OpError and *net.DNSError in its chain, and what errors.Is and
// net.Error say of it. Addresses are compared as strings; Msg is the
// OpError's Err (the whole error where there is no OpError).
type errShape struct {
	Type         string
	Op, Net      string
	Source, Addr string
	Inner        string // the OpError's Err: its type
	Msg          string
	DNS          *net.DNSError
	Timeout      bool // net.Error's Timeout
	IsDeadline   bool // errors.Is os.ErrDeadlineExceeded
	IsCtxTimeout bool // errors.Is context.DeadlineExceeded
	IsCanceled   bool // errors.Is context.Canceled
	IsClosed     bool // errors.Is net.ErrClosed
}

func shapeOf(err error) errShape {
	s := errShape{
		Type:         fmt.Sprintf("%T", err),
		Msg:          fmt.Sprint(err),
		IsDeadline:   errors.Is(err, os.ErrDeadlineExceeded),
		IsCtxTimeout: errors.Is(err, context.DeadlineExceeded),
		IsCanceled:   errors.Is(err, context.Canceled),
		IsClosed:     errors.Is(err, net.ErrClosed),
	}
	var ne net.Error
	if errors.As(err, &ne) {
		s.Timeout = ne.Timeout()
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		s.Op, s.Net = oe.Op, oe.Net
		s.Source, s.Addr = addrString(oe.Source), addrString(oe.Addr)
		s.Inner, s.Msg = fmt.Sprintf("%T", oe.Err), fmt.Sprint(oe.Err)
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		d := *de
		s.DNS = &d
	}
	return s
}

func addrString(a net.Addr) string {
	if a == nil {
		return "<nil>"
	}
	return a.Network() + "!" + a.String()
}

// checkShape fails t unless got has want's shape.
func checkShape(t *testing.T, what string, got, want error) {
	t.Helper()
	g, w := shapeOf(got), shapeOf(want)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n upoll %v\n  %+v (DNS %+v)\n Go    %v\n  %+v (DNS %+v)", what, got, g, g.DNS, want, w, w.DNS)
	}
}

// A dial whose name lookup is still waiting for the DNS server when the
// dial's time is up (ctx's deadline or Dialer.Timeout), or when ctx is
// cancelled, fails as Go's net.Dialer does with the same resolver: a
// dial *net.OpError wrapping the lookup's *net.DNSError, on every
// backend.
func TestDialLookupErrorsAsGo(t *testing.T) {
	const wait = 100 * time.Millisecond
	cases := []struct {
		name string
		// dial dials with timeout or cancellation applied by way
		// of ctx, of the dialer's Timeout, or both.
		dial func(dial func(ctx context.Context, timeout time.Duration) error) error
	}{
		{"ctx deadline", func(dial func(context.Context, time.Duration) error) error {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			return dial(ctx, 0)
		}},
		{"Dialer.Timeout", func(dial func(context.Context, time.Duration) error) error {
			return dial(context.Background(), wait)
		}},
		{"cancel", func(dial func(context.Context, time.Duration) error) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := time.AfterFunc(wait, cancel)
			defer stop.Stop()
			// Bounds the dial should the cancellation not end it.
			ctx, cancelAll := context.WithTimeout(ctx, 10*wait)
			defer cancelAll()
			return dial(ctx, 0)
		}},
	}
	addr := net.JoinHostPort(silentHost, "80")
	for _, network := range []string{"tcp", "tcp4"} {
		for _, tc := range cases {
			goErr := tc.dial(func(ctx context.Context, timeout time.Duration) error {
				d := net.Dialer{Timeout: timeout, Resolver: silentResolver(t)}
				c, err := d.DialContext(ctx, network, addr)
				if err == nil {
					c.Close()
				}
				return err
			})
			if goErr == nil {
				t.Fatalf("%s %s: Go's dial of %s succeeded", network, tc.name, addr)
			}
			for _, b := range testBackends(true) {
				upErr := tc.dial(func(ctx context.Context, timeout time.Duration) error {
					d := Dialer{Timeout: timeout, Resolver: silentResolver(t), Options: []Option{WithBackend(b)}}
					c, err := d.DialContext(ctx, network, addr)
					if err == nil {
						c.Close()
					}
					return err
				})
				checkShape(t, fmt.Sprintf("%v %s %s", b, network, tc.name), upErr, goErr)
			}
		}
	}
}
