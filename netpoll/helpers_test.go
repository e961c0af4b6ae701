package netpoll

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/uring"
)

var allTriggers = []Trigger{LevelTriggered, EdgeTriggered, OneShot}

// startServer serves h on a fresh 127.0.0.1 listener; the server is
// closed when the test ends.
func startServer(t testing.TB, h Handler, opts ...Option) (*Server, string) {
	t.Helper()
	s, err := NewServer(h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s, ln.Addr().String()
}

// startAccept runs an accept-mode server and returns its connections
// through a channel.
func startAccept(t testing.TB, opts ...Option) (*Server, string, chan *Conn) {
	t.Helper()
	conns := make(chan *Conn, 1024)
	opts = append(opts, WithOnConnect(func(c *Conn) { conns <- c }))
	s, addr := startServer(t, nil, opts...)
	return s, addr, conns
}

func recvConn(t testing.TB, ch chan *Conn) *Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
		return nil
	}
}

func dialTCP(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// echoHandler writes back whatever arrived.
func echoHandler(c *Conn) error {
	r, w := c.Reader(), c.Writer()
	b, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	if _, err := w.WriteBinary(b); err != nil {
		return err
	}
	if err := r.Release(); err != nil {
		return err
	}
	return w.Flush()
}

func mustAddrPort(t testing.TB, addr string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// skipStd skips a test of the epoll backend's own machinery when UPOLL
// makes BackendStd the default (the suites run a second time so); why
// says what the test looks at that BackendStd does not have.
func skipStd(t testing.TB, why string) {
	t.Helper()
	if stdDefault() {
		t.Skipf("backend std: %s", why)
	}
}

// skipInline skips a test whose handlers wait (on a channel, for input,
// for a deadline) when UPOLL makes DispatchInline the default: inline
// handlers run on the poller and must not block (a Conn wait returns
// ErrWouldBlock there), so the case does not apply to that mode.
func skipInline(t testing.TB) {
	t.Helper()
	if cfg, err := buildConfig(nil, true); err == nil && cfg.Dispatch == DispatchInline {
		t.Skip("dispatch inline: the handlers of this test wait, which inline handlers must not")
	}
}

// stdDefault reports whether UPOLL makes BackendStd the default.
func stdDefault() bool {
	cfg, err := buildConfig(nil, true)
	return err == nil && cfg.Backend == BackendStd
}

// testBackends lists the backends a test runs on: epoll, std if withStd,
// and uring where the kernel has it; none when UPOLL names a backend (the
// second and third passes of scripts/test.sh). Such a test names each
// backend itself, and UPOLL does not override WithBackend: the pass
// without UPOLL has run it on every one, the named one included, and
// each UPOLL pass would only run it again.
func testBackends(withStd bool) []Backend {
	if _, ok := envBackend(); ok {
		return nil
	}
	bs := []Backend{BackendEpoll}
	if withStd {
		bs = append(bs, BackendStd)
	}
	if haveUring() {
		bs = append(bs, BackendUring)
	}
	return bs
}

// haveUring reports whether the kernel here runs io_uring as the
// backend needs it.
func haveUring() bool { return uring.Available() == nil }

// envBackend returns the backend that UPOLL names, if it names one.
func envBackend() (Backend, bool) {
	opts, err := ParseEnv(os.Getenv(EnvVar))
	if err != nil {
		return 0, false
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.set&optBackend == 0 || cfg.Backend == BackendDefault {
		return 0, false
	}
	return cfg.Backend, true
}

// idleWaits returns how many waits s's pollers made during window,
// after settle, while the test sends nothing: a poller with nothing to
// do blocks, so more than a few is an event that keeps firing.
func idleWaits(s *Server, settle, window time.Duration) uint64 {
	time.Sleep(settle)
	w0 := s.Stats().Waits
	time.Sleep(window)
	return s.Stats().Waits - w0
}

// checkEchoes dials addr, served by an echo handler, and checks that one
// byte comes back: the server is serving it.
func checkEchoes(t testing.TB, addr string) {
	t.Helper()
	c := dialTCP(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

// goServer serves each connection accepted by a Go net listener on
// 127.0.0.1 with serve, on a goroutine of its own, then closes it; the
// listener closes when the test ends. It returns the address.
func goServer(t testing.TB, serve func(c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { serve(c); c.Close() }()
		}
	}()
	return l.Addr().String()
}

// The echo-flood budget tests: floodPeers peers flood echoHandler and
// never read, each connection bounded to floodBound bytes either way,
// under a budget of floodBudget.
const (
	floodBound  = 64 << 10
	floodBudget = 1 << 20
	floodPeers  = 40
)

// echoFlood runs flood on epoll and on uring against a Server of the
// echo-flood budget tests, with the flooders that it adds stopped when
// it returns. limit is what the budget lets the Server buffer
// (budget.go, Config.BufferBudget): the budget, one read per connection
// (minReadSize: each connection's share of a pressed budget is below
// it), and per poller one publish grain (the total the budget looks at
// lags the sum by that much) and one read of at most floodBound (the
// input of the run the poller's leader is in counts once that run ends
// or blocks; under GOMAXPROCS=1 the worst sample went 38,340 bytes past
// the limit without this term). BackendStd is left out: its Stats do not count the output of a
// blocked Flush (TestHostileStatsBlockedFlush), so the figure would say
// nothing there.
func echoFlood(t *testing.T, flood func(t *testing.T, s *Server, addr string, limit int64, f *flooders)) {
	t.Helper()
	skipInline(t) // echoHandler waits in Flush
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			s, addr := startServer(t, echoHandler, WithBackend(be), WithMaxInput(floodBound),
				WithMaxOutput(floodBound), WithBufferBudget(floodBudget))
			pollers := len(s.Stats().PerPoller)
			limit := int64(floodBudget + floodPeers*minReadSize + pollers*(floodBudget/2/(8*pollers)+floodBound))
			var f flooders
			defer f.stop()
			flood(t, s, addr, limit, &f)
		})
	}
}

// flooders are hostile peers that write without pause and never read.
// stop closes them and waits for their writers, which return once the
// kernel no longer takes their bytes by the write deadline.
type flooders struct {
	wg    sync.WaitGroup
	conns []net.Conn
}

// add connects a hostile peer to addr that writes chunk up to times
// times, under a write deadline of d.
func (f *flooders) add(t *testing.T, addr string, chunk []byte, times int, d time.Duration) {
	t.Helper()
	c := hostilePeer(t, addr)
	f.conns = append(f.conns, c)
	f.wg.Go(func() {
		c.SetWriteDeadline(time.Now().Add(d))
		for range times {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
}

func (f *flooders) stop() {
	for _, c := range f.conns {
		c.Close()
	}
	f.wg.Wait()
}

// dialOrEchoHandler echoes what arrived, but for input that starts with
// 'D': then it dials addr through the Dialer that dialer returns and
// answers "connected" or "failed", which is how the hand-off tests make
// a handler wait for a connect.
func dialOrEchoHandler(dialer func() *Dialer, addr string) Handler {
	return func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		out := append([]byte(nil), b...)
		if err := r.Release(); err != nil {
			return err
		}
		if len(out) > 0 && out[0] == 'D' {
			dc, err := dialer().DialContext(context.Background(), "tcp", addr)
			if err == nil {
				dc.Close()
				out = []byte("connected")
			} else {
				out = []byte("failed")
			}
		}
		w := c.Writer()
		if _, err := w.WriteBinary(out); err != nil {
			return err
		}
		return w.Flush()
	}
}

// startPingers ping-pongs one byte over each of conns (to an echo
// handler) on goroutines of its own, at most 10,000 round trips each
// within d, until the stop it returns is called; stop waits for them,
// fails t on their first error and returns each one's round trips.
func startPingers(t *testing.T, conns []*net.TCPConn, d time.Duration) (stop func() []int) {
	done := make(chan struct{})
	rounds := make([]int, len(conns))
	errs := make(chan error, len(conns))
	var wg sync.WaitGroup
	for i, pc := range conns {
		wg.Go(func() {
			pc.SetDeadline(time.Now().Add(d))
			pong := make([]byte, 1)
			for n := 0; n < 10000; n++ {
				select {
				case <-done:
					return
				default:
				}
				if _, err := pc.Write([]byte("p")); err != nil {
					errs <- err
					return
				}
				if _, err := pc.Read(pong); err != nil {
					errs <- err
					return
				}
				rounds[i]++
			}
		})
	}
	return func() []int {
		close(done)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		return rounds
	}
}

// handoffsSince splits the hand-offs made between two Stats into those
// a handler made itself, about to wait, and those the watchdog made.
func handoffsSince(before, after Stats) (direct, watchdog uint64) {
	direct = (after.Handoffs - after.WatchdogHandoffs) - (before.Handoffs - before.WatchdogHandoffs)
	return direct, after.WatchdogHandoffs - before.WatchdogHandoffs
}
