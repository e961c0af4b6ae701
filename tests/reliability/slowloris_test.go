package reliability

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// slowlorisConns is how many connections each slowloris test opens.
func slowlorisConns() int {
	if testing.Short() {
		return 200
	}
	return 1000
}

// trickle opens n connections to addr and sends msg on each, one byte a
// second, until the server closes the connection or the message runs
// out. It returns, per connection, how long after the start of its dial
// the server cut it off (-1: never).
func trickle(t *testing.T, addr string, n int, msg string) []time.Duration {
	t.Helper()
	cut := make([]time.Duration, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 100)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cut[i] = -1
			sem <- struct{}{}
			// The clock starts before the dial: the server cannot start
			// its timer before the connection exists, so a cut-off
			// earlier than the timeout is the server's fault, never the
			// scheduling delay of this goroutine after the dial returns.
			start := time.Now()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			<-sem
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			buf := make([]byte, 512)
			for k := 0; k < len(msg); k++ {
				if _, err := c.Write([]byte{msg[k]}); err != nil {
					cut[i] = time.Since(start)
					return
				}
				// Wait a second for the next byte, watching for the close.
				next := start.Add(time.Duration(k+1) * time.Second)
				for time.Now().Before(next) {
					c.SetReadDeadline(next)
					_, err := c.Read(buf) // an error response is fine; EOF/RST is the cut
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						break
					}
					if err != nil {
						cut[i] = time.Since(start)
						return
					}
				}
			}
		}()
	}
	testutil.WaitGroup(t, &wg, 2*time.Minute, "the trickling clients")
	return cut
}

// checkCuts requires every connection to have been cut off between lo
// and hi after its dial started, and logs the distribution.
func checkCuts(t *testing.T, cut []time.Duration, lo, hi time.Duration) {
	t.Helper()
	s := append([]time.Duration(nil), cut...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	never := 0
	for _, d := range s {
		if d < 0 {
			never++
		}
	}
	if never > 0 {
		t.Errorf("%d of %d slowloris connections were never cut off", never, len(cut))
		return
	}
	p := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))].Round(time.Millisecond) }
	t.Logf("%d conns cut off after: min %v, p50 %v, p99 %v, max %v", len(s), p(0), p(0.5), p(0.99), p(1))
	if s[0] < lo || s[len(s)-1] > hi {
		t.Errorf("cut-off times [%v, %v] outside [%v, %v]", s[0], s[len(s)-1], lo, hi)
	}
}

// TestSlowlorisNative trickles a byte a second on 1,000 connections to
// a netpoll handler server. The idle timeout (shorter than the trickle
// period) reclaims connections whose handler just waits for a full line
// without blocking; the read timeout reclaims connections whose handler
// blocks in Reader.Until. WithReadTimeout bounds each wait, not the
// whole request: a peer that sends faster than it stays idle needs an
// absolute deadline (SetReadDeadline) or the idle timeout instead.
func TestSlowlorisNative(t *testing.T) {
	const timeout = 700 * time.Millisecond
	msg := "GET /slowly/and/never/ending HTTP/1.1" // no newline: never a full line
	t.Run("idle", func(t *testing.T) {
		checkLeaks(t)
		n := startNative(t, func(c *netpoll.Conn) error {
			return nil // waits for a full line without blocking: leaves it buffered
		}, netpoll.WithIdleTimeout(timeout))
		cut := trickle(t, n.addr, slowlorisConns(), msg)
		checkCuts(t, cut, timeout-50*time.Millisecond, timeout+4*time.Second)
		waitReclaimed(t, n, len(cut), func(err error) bool { return errors.Is(err, netpoll.ErrIdleTimeout) })
	})
	t.Run("read", func(t *testing.T) {
		skipInline(t) // the handler waits in Until
		checkLeaks(t)
		n := startNative(t, func(c *netpoll.Conn) error {
			r := c.Reader()
			if _, err := r.Until('\n'); err != nil {
				return err
			}
			return r.Release()
		}, netpoll.WithReadTimeout(timeout))
		cut := trickle(t, n.addr, slowlorisConns(), msg)
		checkCuts(t, cut, timeout-50*time.Millisecond, timeout+4*time.Second)
		waitReclaimed(t, n, len(cut), func(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) })
	})
}

// waitReclaimed waits until the server holds no connection and checks
// that want of them closed for a reason accepted by ok.
func waitReclaimed(t *testing.T, n *native, want int, ok func(error) bool) {
	t.Helper()
	if !testutil.WaitFor(10*time.Second, func() bool { return n.live() == 0 && n.disc.count() == want }) {
		t.Fatalf("server holds %d conns, %d disconnects of %d", n.live(), n.disc.count(), want)
	}
	if got := n.disc.countIf(ok); got != want {
		t.Errorf("%d of %d conns closed for the expected reason; reasons: %v", got, want, n.disc.summary())
	}
}

// TestSlowlorisHTTP trickles request headers a byte a second on 1,000
// connections to http.Server on the nethttp adapter: ReadHeaderTimeout
// cuts every one off and the server ends up holding none.
func TestSlowlorisHTTP(t *testing.T) {
	checkLeaks(t)
	const timeout = time.Second
	e := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a slowloris request reached the handler")
	}), func(s *http.Server) { s.ReadHeaderTimeout = timeout })
	msg := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
	cut := trickle(t, e.addr, slowlorisConns(), msg)
	checkCuts(t, cut, timeout-50*time.Millisecond, timeout+5*time.Second)
	closed := 0
	testutil.WaitFor(10*time.Second, func() bool {
		for {
			select {
			case <-e.closed:
				closed++
				continue
			default:
			}
			return closed == len(cut) && e.open() == 0
		}
	})
	if closed != len(cut) || e.open() != 0 {
		t.Fatalf("http.Server closed %d of %d conns, still tracks %d", closed, len(cut), e.open())
	}
}
