package nethttp

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestDialerResolver: the Dialer looks host names up with its Resolver.
// The resolver here reaches no server (its Dial fails), so the dial
// fails, and the resolver must have been asked.
func TestDialerResolver(t *testing.T) {
	var asked atomic.Int32
	errNoDNS := errors.New("test resolver: no DNS here")
	d := &Dialer{Timeout: 5 * time.Second, Resolver: &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			asked.Add(1)
			return nil, errNoDNS
		},
	}}
	c, err := d.DialContext(context.Background(), "tcp", "upoll-resolver-test.example:80")
	if err == nil {
		c.Close()
		t.Fatal("dial through a resolver that cannot resolve succeeded")
	}
	if asked.Load() == 0 {
		t.Fatalf("dial failed (%v) without asking the Dialer's resolver", err)
	}
}
