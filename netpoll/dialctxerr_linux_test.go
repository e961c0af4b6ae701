package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ctxDial is one way of ending a dial by its context: dial is called
// with the context and the Dialer's Timeout to use.
type ctxDial struct {
	name string
	// connecting: the dial ends while the connect is in flight (else
	// before the dial starts).
	connecting bool
	run        func(dial func(ctx context.Context, timeout time.Duration) error) error
}

// ctxDials end a dial by ctx's deadline, by the Dialer's Timeout, by a
// cancellation, each while it connects, and by a ctx already past its
// deadline or already cancelled.
func ctxDials() []ctxDial {
	const wait = 50 * time.Millisecond
	return []ctxDial{
		{"ctx deadline", true, func(dial func(context.Context, time.Duration) error) error {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			return dial(ctx, 0)
		}},
		{"Dialer.Timeout", true, func(dial func(context.Context, time.Duration) error) error {
			return dial(context.Background(), wait)
		}},
		{"cancel", true, func(dial func(context.Context, time.Duration) error) error {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stop := time.AfterFunc(wait, cancel)
			defer stop.Stop()
			// Bounds the dial should the cancellation not end it.
			ctx, cancelAll := context.WithTimeout(ctx, 100*wait)
			defer cancelAll()
			return dial(ctx, 0)
		}},
		{"ctx past deadline", false, func(dial func(context.Context, time.Duration) error) error {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			return dial(ctx, 0)
		}},
		{"negative Dialer.Timeout", false, func(dial func(context.Context, time.Duration) error) error {
			return dial(context.Background(), -time.Second) // already passed, as in Go's net
		}},
		{"ctx cancelled", false, func(dial func(context.Context, time.Duration) error) error {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return dial(ctx, 0)
		}},
	}
}

// goDialCtxErr returns the error of Go's net.Dialer dialing addr on
// network as tc ends it. A connect that its deadline ends fails in
// Go's net with its own timeout error (errors.Is context.DeadlineExceeded)
// when ctx's timer fires first, but with the poller's
// os.ErrDeadlineExceeded when the deadline it set on the socket fires
// first: either is "i/o timeout" and a net.Error timeout. upoll reports
// the first always, so the dial is repeated (a bounded number of times)
// until Go's gives it; t is skipped if it never does.
func goDialCtxErr(t *testing.T, tc ctxDial, network, addr string) error {
	t.Helper()
	for range 20 {
		err := tc.run(func(ctx context.Context, timeout time.Duration) error {
			d := net.Dialer{Timeout: timeout}
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			t.Fatalf("%s %s: Go's dial of %s succeeded", network, tc.name, addr)
		}
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Err != os.ErrDeadlineExceeded {
			return err
		}
		if !oe.Timeout() || oe.Err.Error() != "i/o timeout" {
			t.Fatalf("%s %s: Go's dial failed with %v, not a timeout", network, tc.name, err)
		}
	}
	t.Skipf("%s %s: Go's net timed out on the poller's deadline each time", network, tc.name)
	return nil
}

// A dial that its context ends (deadline, Dialer.Timeout, cancellation)
// while it connects, or before it starts, fails as Go's net.Dialer's
// does, on every backend: a dial *net.OpError naming the address, with
// Go's own "i/o timeout" (a net.Error timeout and temporary, errors.Is
// context.DeadlineExceeded, not os.ErrDeadlineExceeded) or "operation
// was canceled" (errors.Is context.Canceled).
func TestDialCtxErrorsAsGo(t *testing.T) {
	hang := hangingAddrs(t, 1)[0].String()
	sock := filepath.Join(t.TempDir(), "s.sock")
	for _, tc := range ctxDials() {
		dests := [][2]string{{"tcp", hang}, {"tcp4", hang}}
		if !tc.connecting {
			// A unix connect never hangs: only a dial that
			// ends before it starts.
			dests = append(dests, [2]string{"unix", sock})
		}
		for _, dest := range dests {
			network, addr := dest[0], dest[1]
			goErr := goDialCtxErr(t, tc, network, addr)
			for _, b := range testBackends(true) {
				upErr := tc.run(func(ctx context.Context, timeout time.Duration) error {
					d := Dialer{Timeout: timeout, Options: []Option{WithBackend(b)}}
					c, err := d.DialContext(ctx, network, addr)
					if err == nil {
						c.Close()
					}
					return err
				})
				what := fmt.Sprintf("%v %s %s", b, network, tc.name)
				checkShape(t, what, upErr, goErr)
				var ue, ge net.Error
				// Temporary is deprecated, but callers still ask it: upoll's
				// answer must be Go's.
				if errors.As(upErr, &ue) && errors.As(goErr, &ge) {
					//lint:ignore SA1019 the comparison is the point
					up, std := ue.Temporary(), ge.Temporary()
					if up != std {
						t.Errorf("%s: Temporary() = %v, Go's %v", what, up, std)
					}
				}
			}
		}
	}
}
