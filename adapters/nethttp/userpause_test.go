package nethttp

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// TestUserPauseOutlastsQueue: a pause the application sets through
// Server(ln).PauseAccept holds until the application resumes, though the
// listener's own pause (its accept queue full) ends meanwhile; and the
// application's ResumeAccept does not end the listener's own pause while
// its queue is full. With an accept queue of 2:
//   - 2 connections fill the queue; the application pauses, then Accept
//     takes both (the listener's pause ends): a third connection must not
//     be accepted until ResumeAccept, and comes after it;
//   - the third and a fourth fill the queue again; the application's
//     ResumeAccept (no pause of its own in force) must leave a fifth in
//     the kernel's backlog while the queue is full.
func TestUserPauseOutlastsQueue(t *testing.T) {
	defer func(n int) { acceptQueue = n }(acceptQueue)
	acceptQueue = 2
	for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			opts := []netpoll.Option{netpoll.WithBackend(b)}
			if b != netpoll.BackendStd {
				opts = append(opts, netpoll.WithPollers(1)) // see TestAcceptQueuePauses
			}
			nl := listenOn(t, opts...)
			l, srv := nl.(*listener), Server(nl)
			dial := func() {
				c, err := net.DialTimeout("tcp", nl.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
			}
			accepted := func(n uint64) {
				t.Helper()
				if !testutil.WaitFor(5*time.Second, func() bool { return srv.Stats().TotalConns >= n }) {
					t.Fatalf("%d connections accepted, want %d", srv.Stats().TotalConns, n)
				}
			}
			accept := func(within time.Duration) (net.Conn, error) {
				l.SetDeadline(time.Now().Add(within))
				defer l.SetDeadline(time.Time{})
				c, err := nl.Accept()
				if err == nil {
					t.Cleanup(func() { c.Close() })
				}
				return c, err
			}
			dial()
			dial()
			accepted(2)
			srv.PauseAccept()
			for i := range 2 {
				if _, err := accept(5 * time.Second); err != nil {
					t.Fatalf("Accept %d of the queued 2: %v", i, err)
				}
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return !l.paused.Load() }) {
				t.Fatal("the listener's own pause did not end with its queue empty")
			}
			dial()
			if c, err := accept(100 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Accept while the application's pause is in force: %v, %v; want the deadline's error", c, err)
			}
			srv.ResumeAccept()
			accepted(3)

			dial() // the queue holds the third and this one: full
			accepted(4)
			srv.ResumeAccept()
			dial()
			time.Sleep(100 * time.Millisecond)
			if n := srv.Stats().TotalConns; n != 4 {
				t.Fatalf("%d connections accepted with the queue full after the application's ResumeAccept, want 4", n)
			}
			for i := range 3 {
				if _, err := accept(5 * time.Second); err != nil {
					t.Fatalf("Accept %d of the last 3: %v", i, err)
				}
			}
		})
	}
}
