package netpoll

import (
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestUringSQPollPollRemoveRace: under SQPOLL, connections whose client
// streams input while the poller switches them from their first poll to
// the multishot receive, then closed by their handler: every peer must
// see the close (EOF or reset). The switch removed the first multishot
// poll with POLL_REMOVE, which fails with EALREADY while a wake-up of
// the poll is being handled; the poll then stayed armed, and del's
// cancellation by user data (SQPOLL) did not know it, so it held the
// socket open after close(2) (20-90 of 100 peers got nothing in 3 s).
func TestUringSQPollPollRemoveRace(t *testing.T) {
	needUring(t)
	t.Setenv(uringSQPollEnv, "1")
	const conns, batch = 100, 10
	h := func(c *Conn) error {
		if c.Reader().Len() >= 32<<10 {
			return c.Close()
		}
		return nil
	}
	before := sqThreadCount(t)
	s, addr := startServer(t, h, WithBackend(BackendUring), WithPollers(1))
	defer func() {
		// Its submission thread gone before the next test counts them
		// (TestUringSQPollEcho).
		s.Close()
		testutil.WaitFor(5*time.Second, func() bool { return sqThreadCount(t) == before })
	}()
	var mu sync.Mutex
	stuck := 0
	chunk := make([]byte, 512)
	for i := 0; i < conns; i += batch {
		var wg sync.WaitGroup
		for range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				for sent := 0; sent < 48<<10; sent += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						break // closed by the server
					}
				}
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				var b [1]byte
				if _, err := c.Read(b[:]); os.IsTimeout(err) {
					mu.Lock()
					stuck++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
	if stuck > 0 {
		t.Errorf("%d of %d server-side closes never reached the peer (no FIN or reset within 3 s)", stuck, conns)
	}
}
