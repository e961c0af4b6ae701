package netpoll

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestInlineHandlerDialsOnItsPoller: a DispatchInline handler that dials
// through its own Server, whose connection lands on the handler's own
// poller (here the only one), gets the connect's outcome: the connection
// at once, or the refusal. Only that poller's loop took the connect's
// event, and the loop was the handler waiting for it: every such dial
// ran to its Timeout ("i/o timeout" after 2 s, on epoll and io_uring),
// and one without a Timeout stalled the poller, and every connection of
// it, for good. Such a dial now waits for the socket itself.
func TestInlineHandlerDialsOnItsPoller(t *testing.T) {
	skipStd(t, "dispatch modes")
	for _, be := range testBackends(false) {
		for _, trig := range allTriggers {
			t.Run(be.String()+"/"+trig.String(), func(t *testing.T) {
				testutil.CheckLeaks(t)
				backend := goServer(t, func(c net.Conn) {
					c.Write([]byte("x"))
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					c.Read(make([]byte, 1)) // until the dialer closes
				})
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				refused := ln.Addr().String()
				ln.Close()

				type result struct {
					took time.Duration
					c    *Conn
					err  error
				}
				results := make(chan result, 2)
				dialedInput := make(chan string, 1)
				var srv atomic.Pointer[Server] // set before the first request
				s, addr := startServer(t, func(c *Conn) error {
					r := c.Reader()
					b, err := r.ReadString(r.Len())
					if err != nil {
						return err
					}
					if c.Context() == "dialed" {
						dialedInput <- b
						return nil
					}
					d := Dialer{Server: srv.Load(), Timeout: 2 * time.Second, Context: "dialed"}
					for _, to := range []string{backend, refused} {
						start := time.Now()
						bc, err := d.DialContext(context.Background(), "tcp", to)
						results <- result{time.Since(start), bc, err}
					}
					return nil
				}, WithBackend(be), WithTrigger(trig), WithDispatch(DispatchInline), WithPollers(1))
				srv.Store(s)
				c := dialTCP(t, addr)
				if _, err := c.Write([]byte("go")); err != nil {
					t.Fatal(err)
				}
				ok := testutil.Receive(t, results, 5*time.Second, "the dial of a listening peer")
				if ok.err != nil || ok.took > time.Second {
					t.Fatalf("dial of a listening peer from an inline handler on its poller: %v after %v, want a connection at once", ok.err, ok.took)
				}
				defer ok.c.Close()
				// The dialed connection is served: its handler gets the
				// backend's greeting.
				if got := testutil.Receive(t, dialedInput, 5*time.Second, "the dialed connection's input"); got != "x" {
					t.Errorf("the dialed connection's handler read %q, want %q", got, "x")
				}
				bad := testutil.Receive(t, results, 5*time.Second, "the dial of a closed port")
				if !errors.Is(bad.err, syscall.ECONNREFUSED) || bad.took > time.Second {
					t.Fatalf("dial of a closed port from an inline handler on its poller: %v after %v, want ECONNREFUSED at once", bad.err, bad.took)
				}
				var oe *net.OpError
				if !errors.As(bad.err, &oe) || oe.Op != "dial" || oe.Addr == nil || oe.Addr.String() != refused {
					t.Errorf("refused dial's error %v, want a dial *net.OpError naming %s", bad.err, refused)
				}
				if st := s.Stats(); st.TotalConns != 2 {
					t.Errorf("TotalConns %d, want 2 (the accepted connection and the dialed one)", st.TotalConns)
				}
			})
		}
	}
}
