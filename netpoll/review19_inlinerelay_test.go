package netpoll

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// relayHandler is an inline handler that writes what its connection receives
// to up, the upstream, once set (the upstream's own input is dropped).
// A Write refused with ErrWouldBlock takes what it counted; the handler
// returns nil keeping the rest, as ErrWouldBlock's doc asks, and sends
// on refused (dropped when a signal is pending). Another error of the
// Write goes to failed (likewise) and closes the connection.
type relayHandler struct {
	up             atomic.Pointer[Conn]
	runs, refusals atomic.Int64
	refused        chan struct{}
	failed         chan error
}

// relayCases runs f on each backend with the relay's upstream dialed
// through a second DispatchInline Server and through the relay's own.
func relayCases(t *testing.T, f func(t *testing.T, be Backend, where string)) {
	for _, be := range testBackends(false) {
		for _, where := range []string{"other server", "own poller"} {
			t.Run(be.String()+"/"+where, func(t *testing.T) { f(t, be, where) })
		}
	}
}

// startRelay starts a DispatchInline Server with one poller and a 64 KiB
// MaxOutput running a relay, and dials upstream (a Go listener's
// address) through it (where "own poller") or through a second such
// Server. It returns the relay, the address its clients dial, and the
// Servers (one or two) for checkNoRelays.
func startRelay(t *testing.T, be Backend, where, upstream string) (*relayHandler, string, []*Server) {
	t.Helper()
	r := &relayHandler{refused: make(chan struct{}, 1), failed: make(chan error, 1)}
	opts := []Option{WithBackend(be), WithDispatch(DispatchInline), WithPollers(1), WithMaxOutput(64 << 10)}
	s, addr := startServer(t, r.handle, opts...)
	servers := []*Server{s}
	if where == "other server" {
		other, _ := startServer(t, r.handle, opts...)
		servers = append(servers, other)
	}
	u, err := (&Dialer{Server: servers[len(servers)-1]}).DialContext(context.Background(), "tcp", upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	r.up.Store(u)
	return r, addr, servers
}

func (r *relayHandler) handle(c *Conn) error {
	u := r.up.Load()
	in := c.Reader()
	if u == nil || c == u {
		in.Skip(in.Len())
		return in.Release()
	}
	r.runs.Add(1)
	b, err := in.Peek(in.Len())
	if err != nil {
		return err
	}
	n, err := u.Write(b)
	in.Skip(n)
	in.Release()
	switch {
	case errors.Is(err, ErrWouldBlock):
		r.refusals.Add(1)
		select {
		case r.refused <- struct{}{}:
		default:
		}
		return nil
	case err != nil:
		select {
		case r.failed <- err:
		default:
		}
	}
	return err
}

// pausedSink is a Go server on 127.0.0.1 that reads everything its
// connection sends once start is closed (or nothing, if the test ends
// first), counting the bytes in got. It returns its address.
func pausedSink(t testing.TB, start <-chan struct{}) (addr string, got *atomic.Int64) {
	t.Helper()
	got = new(atomic.Int64)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	addr = goServer(t, func(c net.Conn) {
		select {
		case <-start:
		case <-done:
			return
		}
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	return addr, got
}

// TestReview19InlineRelayToInlineConn: an inline handler relays what
// its client sends to a connection dialed through a DispatchInline
// Server (another one, or its own, on its poller), whose peer reads
// only after a pause; the client sends everything at once and then
// waits. The relay's Write says ErrWouldBlock once the sockets and
// MaxOutput are full (that connection's loop runs handlers inline and
// may be waiting for the caller's), and the handler returns nil keeping
// its input, as ErrWouldBlock's doc asks. The upstream's drain runs it
// again (relay.go). Before, only more input or its own connection's
// drain did: the upstream got about 4 of 32 MiB in 15 s, on epoll and
// io_uring, whether the upstream was on another Server's poller or the
// handler's own; now all of it, in about 0.6 s.
func TestReview19InlineRelayToInlineConn(t *testing.T) {
	const size = 32 << 20 // more than the loopback sockets hold
	relayCases(t, func(t *testing.T, be Backend, where string) {
		start := make(chan struct{})
		time.AfterFunc(500*time.Millisecond, func() { close(start) }) // the relay fills the sockets and its queue
		upstream, got := pausedSink(t, start)
		r, addr, servers := startRelay(t, be, where, upstream)
		client := dialTCP(t, addr)
		go client.Write(make([]byte, size))
		if !testutil.WaitFor(15*time.Second, func() bool { return got.Load() >= size }) {
			t.Fatalf("the upstream got %d of %d bytes relayed", got.Load(), size)
		}
		select {
		case err := <-r.failed:
			t.Fatalf("relay Write: %v", err)
		default:
		}
		t.Logf("%d relay runs, %d refused", r.runs.Load(), r.refusals.Load())
		checkNoRelays(t, servers...)
	})
}

// TestReview19InlineRelayTargetCloses: as above, but the upstream's
// peer never reads; once the relay's Write has been refused, the
// upstream is closed. The relay's handler runs again, its Write fails
// with net.ErrClosed, and its error closes the client's connection.
// Before, nothing ran it again: the client's connection stayed open.
func TestReview19InlineRelayTargetCloses(t *testing.T) {
	relayCases(t, func(t *testing.T, be Backend, where string) {
		end := make(chan struct{})
		defer close(end)
		upstream := goServer(t, func(net.Conn) { <-end })
		r, addr, servers := startRelay(t, be, where, upstream)
		client := dialTCP(t, addr)
		go client.Write(make([]byte, 32<<20)) // more than the sockets hold
		testutil.Receive(t, r.refused, 10*time.Second, "the relay's refused Write")
		time.Sleep(50 * time.Millisecond) // the handler has returned
		r.up.Load().Close()
		err := testutil.Receive(t, r.failed, 5*time.Second, "the relay's Write after the upstream closed")
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("the relay's Write after the upstream closed: %v, want net.ErrClosed", err)
		}
		checkNoRelays(t, servers...)
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := client.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("the client's Read after the relay failed: %v, want its connection closed", err)
		}
	})
}

// checkNoRelays fails t if a poller of the servers still lists a
// connection to run again (relay.go) 2 s on: every listing ends with
// the drain, the run or the close that wakes it.
func checkNoRelays(t *testing.T, servers ...*Server) {
	t.Helper()
	listed := func() (n int) {
		for _, s := range servers {
			for _, p := range s.pollers {
				p.relayMu.Lock()
				n += len(p.relays)
				p.relayMu.Unlock()
			}
		}
		return n
	}
	if !testutil.WaitFor(2*time.Second, func() bool { return listed() == 0 }) {
		t.Errorf("the pollers still list relays for %d connections", listed())
		for _, s := range servers {
			for _, p := range s.pollers {
				p.relayMu.Lock()
				for c, rs := range p.relays {
					t.Logf("listed: flags %#x, %d bytes queued (%d in a batch), closed %v, %d relays", c.flags.Load(), c.out.Len(), c.out.MallocLen(), c.fdst.closed(), len(rs))
				}
				p.relayMu.Unlock()
			}
		}
	}
}

// TestReview19InlineRelayKeepsInputAtEOF: as TestReview19InlineRelay…,
// with two clients. The first sends 8 MiB, which fills the upstream's
// sockets and queue; then the second sends 100 KiB and shuts its
// writing side down, so that its bytes and its end arrive together
// while the upstream refuses writes. Its relay's handler takes none of
// them (ErrWouldBlock) and returns nil keeping them; the run must not
// then close the connection for the peer's end with input left, as it
// does not after a refusal of the handler's own output (fOutBlocked):
// the handler runs again when the upstream drains. The upstream's peer
// reads after that and must get every byte of both clients.
func TestReview19InlineRelayKeepsInputAtEOF(t *testing.T) {
	const first, second = 8 << 20, 100 << 10
	relayCases(t, func(t *testing.T, be Backend, where string) {
		start := make(chan struct{})
		upstream, got := pausedSink(t, start)
		r, addr, servers := startRelay(t, be, where, upstream)
		c1 := dialTCP(t, addr)
		go c1.Write(make([]byte, first))
		testutil.Receive(t, r.refused, 10*time.Second, "a refused relay Write")
		c2 := dialTCP(t, addr)
		if _, err := c2.Write(make([]byte, second)); err != nil {
			t.Fatal(err)
		}
		c2.CloseWrite()
		time.Sleep(200 * time.Millisecond) // c2's bytes and end arrive, its handler is refused
		close(start)
		if !testutil.WaitFor(15*time.Second, func() bool { return got.Load() >= first+second }) {
			t.Fatalf("the upstream got %d of %d bytes relayed", got.Load(), first+second)
		}
		checkNoRelays(t, servers...)
	})
}
