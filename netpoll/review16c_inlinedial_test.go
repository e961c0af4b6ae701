package netpoll

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestReview16cInlineDialsStayOnTheirPoller: two DispatchInline
// handlers, on the two pollers of a Server, each dial through that
// Server while the other's dial is in flight, and both get their
// connection at once. Only a poller's loop sees a connect complete, and
// an inline handler holds its loop: before, a dial's connection went
// to the next poller in turn, here (after one dial that shifts the
// turn) the handler of poller 0 dialed onto poller 1 and the handler of
// poller 1 onto poller 0, and each waited for the other's loop until
// its Timeout ("i/o timeout" after 3 s; without one, for good, with
// both pollers and all their connections). A dial from a handler on a
// poller's loop now puts its connection on that poller, whose dial
// waits for the socket itself.
func TestReview16cInlineDialsStayOnTheirPoller(t *testing.T) {
	skipStd(t, "dispatch modes")
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			upstream := goServer(t, func(c net.Conn) {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				c.Read(make([]byte, 1)) // until the dialer closes
			})
			type result struct {
				from, to int
				took     time.Duration
				err      error
			}
			results := make(chan result, 2)
			first := make(chan struct{}) // the dial of poller 0's handler has begun
			var s *Server
			h := func(c *Conn) error {
				r := c.Reader()
				r.Skip(r.Len())
				r.Release()
				if c.Context() == "dialed" {
					return nil
				}
				if c.p.id == 0 {
					close(first)
				} else {
					// Poller 0's handler holds its loop, waiting for
					// its connect, when this one dials.
					testutil.Recv(first, 5*time.Second)
					time.Sleep(50 * time.Millisecond)
				}
				d := Dialer{Server: s, Timeout: 3 * time.Second, Context: "dialed"}
				start := time.Now()
				dc, err := d.DialContext(context.Background(), "tcp", upstream)
				res := result{from: c.p.id, to: -1, took: time.Since(start), err: err}
				if err == nil {
					res.to = dc.p.id
					dc.Close()
				}
				results <- res
				return nil
			}
			var err error
			s, err = NewServer(h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(2))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := s.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(ln)
			var cls []net.Conn
			for range 2 {
				cl, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				cls = append(cls, cl)
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().LiveConns == 2 }) {
				t.Fatalf("LiveConns %d, want the 2 accepted", s.Stats().LiveConns)
			}
			// One dial from here: the turn of the dials below starts at
			// the poller that is not their handler's.
			d := Dialer{Server: s, Context: "dialed"}
			dc, err := d.DialContext(context.Background(), "tcp", upstream)
			if err != nil {
				t.Fatal(err)
			}
			dc.Close()
			for _, cl := range cls {
				cl.Write([]byte("x"))
			}
			for i := range 2 {
				r := testutil.Receive(t, results, 10*time.Second, fmt.Sprintf("dial %d's result", i))
				t.Logf("handler on poller %d dialed onto poller %d in %v: %v", r.from, r.to, r.took, r.err)
				if r.err != nil || r.took > time.Second {
					t.Errorf("handler on poller %d: dial %v after %v, want a connection at once", r.from, r.err, r.took)
				}
			}
		})
	}
}
