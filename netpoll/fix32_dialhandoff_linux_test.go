package netpoll

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// blockingResolver is a Go resolver whose DNS exchanges wait, without
// any network, until the test releases them (or their context ends): a
// lookup that takes as long as the test wants. Released, each fails.
type blockingResolver struct {
	*net.Resolver
	entered chan struct{}                 // a send per exchange begun, when there is room
	release atomic.Pointer[chan struct{}] // closed to let the exchanges of one dial go
}

func newBlockingResolver() *blockingResolver {
	br := &blockingResolver{entered: make(chan struct{}, 1)}
	br.arm()
	br.Resolver = &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			release := *br.release.Load()
			select {
			case br.entered <- struct{}{}:
			default:
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, errors.New("test resolver: no answer")
		},
	}
	return br
}

// arm makes the next exchanges wait again.
func (br *blockingResolver) arm() {
	ch := make(chan struct{})
	br.release.Store(&ch)
}

// A handler that dials a host name passes its poller's duty on before
// the name lookup, which may take as long as the resolver does, and one
// that dials through a BackendStd group does before Go's net.Dialer,
// which waits for the lookup and the connect inside Go's net: the
// poller's other connections are not to wait meanwhile. Both used to
// keep the duty until the watchdog took it (WatchdogHandoffs, one to two
// ticks later), and every round trip of the 20 other connections of the
// poller waited for that. The lookup is one of a Go resolver whose DNS
// exchanges block until the test releases them (the name is in no
// /etc/hosts); the connect is one to a listener whose accept queue is
// full.
func TestDialLookupHandsOff(t *testing.T) {
	skipStd(t, "BackendStd's handlers run on goroutines of their own, not on a poller's leader")
	skipInline(t)
	if _, err := dialGroup(); err != nil { // started for good: not a leak of this test
		t.Fatal(err)
	}
	if _, err := backendDialGroups[BackendStd](); err != nil {
		t.Fatal(err)
	}
	const (
		pingers = 20
		name    = "upoll-dial-handoff.test"
	)
	stdOpts := []Option{WithBackend(BackendStd)}
	cases := []struct {
		name   string
		lookup bool // the dial waits in the blocking resolver; else for the stalled connect
		dialer func(br *blockingResolver) *Dialer
	}{
		{"lookup, default Dialer", true, func(br *blockingResolver) *Dialer {
			return &Dialer{Resolver: br.Resolver}
		}},
		{"lookup, BackendStd group", true, func(br *blockingResolver) *Dialer {
			return &Dialer{Resolver: br.Resolver, Options: stdOpts}
		}},
		{"connect, BackendStd group", false, func(*blockingResolver) *Dialer {
			return &Dialer{Options: stdOpts, Timeout: 150 * time.Millisecond}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			br := newBlockingResolver()
			target := name + ":80"
			if !tc.lookup {
				target = stalledListener(t)
			}
			d := tc.dialer(br)
			if d.Timeout == 0 {
				d.Timeout = 5 * time.Second // bounds a lookup the test failed to release
			}
			h := dialOrEchoHandler(func() *Dialer { return d }, target)
			s, addr := startServer(t, h, WithPollers(1), WithDispatch(DispatchHandoff))
			dialer := dialTCP(t, addr)
			conns := make([]*net.TCPConn, pingers)
			for i := range conns {
				conns[i] = dialTCP(t, addr)
			}
			for attempt := range 3 {
				br.arm()
				before := s.Stats()
				dialer.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := dialer.Write([]byte("D")); err != nil {
					t.Fatal(err)
				}
				stop := startPingers(t, conns, 10*time.Second)
				entered := true
				if tc.lookup {
					select {
					case <-br.entered:
						time.Sleep(50 * time.Millisecond) // the lookup lasts; the others go on
					case <-time.After(3 * time.Second):
						entered = false
					}
					close(*br.release.Load())
				}
				reply := make([]byte, 16)
				n, err := dialer.Read(reply)
				rounds := stop()
				if err != nil {
					t.Fatal(err)
				}
				if !entered {
					t.Skipf("the lookup of %q did not ask the resolver's DNS (the system's hosts lookup order?); the dial %s", name, reply[:n])
				}
				if string(reply[:n]) != "failed" {
					t.Fatalf("the dial ended in %q, want a failure", reply[:n])
				}
				after := s.Stats()
				direct, watchdog := handoffsSince(before, after)
				t.Logf("attempt %d: round trips of the %d other connections during the dial %v; hand-offs: %d direct, %d by the watchdog",
					attempt, pingers, rounds, direct, watchdog)
				if direct > 0 {
					return
				}
			}
			t.Error("a handler whose dial waited in a name lookup or in Go's net kept its poller's duty: no direct hand-off in 3 dials (only the watchdog's)")
		})
	}
}
