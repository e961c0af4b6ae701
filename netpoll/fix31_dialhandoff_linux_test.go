package netpoll

import (
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// A handler that dials through another group than its own server's (the
// default Dialer's, or another Server's) passes its poller's duty on
// before it waits for the connect, as one dialing through its own server
// does (TestDialFromHandlerHandsOff): the poller's other connections are
// not to wait meanwhile. The wait looked only at the pollers of the
// group dialed through, so the leader slept in the other group's connect
// until the watchdog took the duty (WatchdogHandoffs, one to two ticks
// later), and every round trip of the 20 other connections of that
// poller waited for it.
func TestDialThroughOtherGroupHandsOff(t *testing.T) {
	skipStd(t, "the dial of BackendStd waits in Go's net, not on the poller")
	skipInline(t)
	if _, err := dialGroup(); err != nil { // started for good: not a leak of this test
		t.Fatal(err)
	}
	const pingers = 20
	cases := []struct {
		name   string
		dialer func(t *testing.T) *Dialer
	}{
		{"default Dialer", func(*testing.T) *Dialer { return &Dialer{} }},
		{"Dialer of a handler Server", func(t *testing.T) *Dialer {
			other, _ := startServer(t, echoHandler)
			return &Dialer{Server: other}
		}},
		{"Dialer of an accept-mode Server", func(t *testing.T) *Dialer {
			other, _ := startServer(t, nil)
			return &Dialer{Server: other}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			stalled := stalledListener(t)
			d := tc.dialer(t)
			d.Timeout = 150 * time.Millisecond
			h := dialOrEchoHandler(func() *Dialer { return d }, stalled)
			s, addr := startServer(t, h, WithPollers(1), WithDispatch(DispatchHandoff))
			dialer := dialTCP(t, addr)
			conns := make([]*net.TCPConn, pingers)
			for i := range conns {
				conns[i] = dialTCP(t, addr)
			}
			for attempt := range 3 {
				before := s.Stats()
				dialer.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := dialer.Write([]byte("D")); err != nil {
					t.Fatal(err)
				}
				stop := startPingers(t, conns, 5*time.Second)
				reply := make([]byte, 16)
				n, err := dialer.Read(reply)
				rounds := stop()
				if err != nil {
					t.Fatal(err)
				}
				if string(reply[:n]) != "failed" {
					t.Fatalf("the dial to a full accept queue ended in %q", reply[:n])
				}
				after := s.Stats()
				direct, watchdog := handoffsSince(before, after)
				t.Logf("attempt %d: round trips of the %d other connections during the dial %v; hand-offs: %d direct, %d by the watchdog",
					attempt, pingers, rounds, direct, watchdog)
				if direct > 0 {
					return
				}
			}
			t.Error("a handler waiting for the connect of a dial through another group kept its poller's duty: no direct hand-off in 3 dials (only the watchdog's)")
		})
	}
}
