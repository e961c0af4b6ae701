package netpoll

import (
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestPausedOneShotSeesReset checks that a one-shot connection paused at
// its input bound after its handler's run (the handler returned leaving
// MaxInput bytes) still sees its peer's reset, as a level-triggered one
// does: the registration keeps asking for errors while the input is
// paused. And that asking costs no spin: while one paused connection
// idles and another, also paused, has hung up (both directions shut,
// so the kernel reports EPOLLHUP on every arming), the pollers wait
// only a few times.
func TestPausedOneShotSeesReset(t *testing.T) {
	const bound = 4 << 10
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			ran := make(chan *Conn, 2)
			gone := make(chan *Conn, 2)
			s, addr := startServer(t, func(c *Conn) error {
				select {
				case ran <- c:
				default:
				}
				return nil // leaves its input: the connection stays paused
			}, WithBackend(b), WithTrigger(OneShot), WithPollers(1), WithMaxInput(bound),
				WithOnDisconnect(func(c *Conn, _ error) { gone <- c }))
			paused := func() (*net.TCPConn, *Conn) {
				cl := dialTCP(t, addr)
				if _, err := cl.Write(make([]byte, 2*bound)); err != nil {
					t.Fatal(err)
				}
				select {
				case c := <-ran:
					return cl, c
				case <-time.After(2 * time.Second):
					t.Fatal("handler not run")
				}
				return nil, nil
			}
			rst, rc := paused()
			hup, hc := paused()
			if !testutil.WaitFor(2*time.Second, func() bool { return s.Stats().PausedByBound == 2 }) {
				t.Fatalf("PausedByBound = %d, want 2", s.Stats().PausedByBound)
			}
			// Both directions of hup shut: its socket hangs up.
			if err := hc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			hup.CloseWrite()
			w := idleWaits(s, 30*time.Millisecond, 200*time.Millisecond)
			t.Logf("%d poller waits in 200 ms", w)
			if w > 20 {
				t.Errorf("%d poller waits in 200 ms with two paused connections, one hung up: want a few", w)
			}
			rst.SetLinger(0)
			rst.Close()
			select {
			case c := <-gone:
				if c != rc {
					t.Fatal("the hung-up connection closed, not the reset one")
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the paused connection did not see its peer's reset in 2 s")
			}
			hup.Close()
		})
	}
}
