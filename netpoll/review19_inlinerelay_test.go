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
	for _, be := range testBackends(false) {
		for _, where := range []string{"other server", "own poller"} {
			t.Run(be.String()+"/"+where, func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				var got atomic.Int64
				go func() {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					defer c.Close()
					time.Sleep(500 * time.Millisecond) // the relay fills the sockets and its queue
					buf := make([]byte, 256<<10)
					for {
						n, err := c.Read(buf)
						got.Add(int64(n))
						if err != nil {
							return
						}
					}
				}()
				var up atomic.Pointer[Conn]
				var relayErr atomic.Pointer[error]
				var runs, refused atomic.Int64
				h := func(c *Conn) error {
					u := up.Load()
					r := c.Reader()
					if u == nil || c == u {
						r.Skip(r.Len())
						return r.Release()
					}
					runs.Add(1)
					b, err := r.Peek(r.Len())
					if err != nil {
						return err
					}
					n, err := u.Write(b)
					r.Skip(n)
					r.Release()
					if errors.Is(err, ErrWouldBlock) {
						refused.Add(1)
					}
					if err != nil && !errors.Is(err, ErrWouldBlock) {
						relayErr.Store(&err)
						return err
					}
					return nil
				}
				s, addr := startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1),
					WithMaxOutput(64<<10))
				target := s
				if where == "other server" {
					target, _ = startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1),
						WithMaxOutput(64<<10))
				}
				u, err := (&Dialer{Server: target}).DialContext(context.Background(), "tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer u.Close()
				up.Store(u)
				client := dialTCP(t, addr)
				go client.Write(make([]byte, size))
				if !testutil.WaitFor(15*time.Second, func() bool { return got.Load() >= size }) {
					t.Fatalf("the upstream got %d of %d bytes relayed", got.Load(), size)
				}
				if e := relayErr.Load(); e != nil {
					t.Fatalf("relay Write: %v", *e)
				}
				t.Logf("%d relay runs, %d refused", runs.Load(), refused.Load())
				checkNoRelays(t, s, target)
			})
		}
	}
}

// TestReview19InlineRelayTargetCloses: as above, but the upstream's
// peer never reads; once the relay's Write has been refused, the
// upstream is closed. The relay's handler runs again, its Write fails
// with net.ErrClosed, and its error closes the client's connection.
// Before, nothing ran it again: the client's connection stayed open.
func TestReview19InlineRelayTargetCloses(t *testing.T) {
	for _, be := range testBackends(false) {
		for _, where := range []string{"other server", "own poller"} {
			t.Run(be.String()+"/"+where, func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				accepted := make(chan net.Conn, 1)
				go func() {
					c, err := ln.Accept()
					if err == nil {
						accepted <- c
					}
				}()
				var up atomic.Pointer[Conn]
				refused := make(chan struct{}, 1)
				relayErr := make(chan error, 1)
				h := func(c *Conn) error {
					u := up.Load()
					r := c.Reader()
					if u == nil || c == u {
						r.Skip(r.Len())
						return r.Release()
					}
					b, err := r.Peek(r.Len())
					if err != nil {
						return err
					}
					n, err := u.Write(b)
					r.Skip(n)
					r.Release()
					if errors.Is(err, ErrWouldBlock) {
						select {
						case refused <- struct{}{}:
						default:
						}
						return nil
					}
					if err != nil {
						select {
						case relayErr <- err:
						default:
						}
					}
					return err
				}
				s, addr := startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1),
					WithMaxOutput(64<<10))
				target := s
				if where == "other server" {
					target, _ = startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1),
						WithMaxOutput(64<<10))
				}
				u, err := (&Dialer{Server: target}).DialContext(context.Background(), "tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer u.Close()
				peer := testutil.Receive(t, accepted, 5*time.Second, "the upstream's connection")
				defer peer.Close()
				up.Store(u)
				client := dialTCP(t, addr)
				go client.Write(make([]byte, 32<<20)) // more than the sockets hold
				testutil.Receive(t, refused, 10*time.Second, "the relay's refused Write")
				time.Sleep(50 * time.Millisecond) // the handler has returned
				u.Close()
				err = testutil.Receive(t, relayErr, 5*time.Second, "the relay's Write after the upstream closed")
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("the relay's Write after the upstream closed: %v, want net.ErrClosed", err)
				}
				checkNoRelays(t, s, target)
				client.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := client.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("the client's Read after the relay failed: %v, want its connection closed", err)
				}
			})
		}
	}
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
// reads after 500 ms and must get every byte of both clients.
func TestReview19InlineRelayKeepsInputAtEOF(t *testing.T) {
	const first, second = 8 << 20, 100 << 10
	for _, be := range testBackends(false) {
		for _, where := range []string{"other server", "own poller"} {
			t.Run(be.String()+"/"+where, func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				var got atomic.Int64
				start := make(chan struct{})
				go func() {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					defer c.Close()
					<-start
					buf := make([]byte, 256<<10)
					for {
						n, err := c.Read(buf)
						got.Add(int64(n))
						if err != nil {
							return
						}
					}
				}()
				var up atomic.Pointer[Conn]
				refused := make(chan struct{}, 1)
				h := func(c *Conn) error {
					u := up.Load()
					r := c.Reader()
					if u == nil || c == u {
						r.Skip(r.Len())
						return r.Release()
					}
					b, err := r.Peek(r.Len())
					if err != nil {
						return err
					}
					n, err := u.Write(b)
					r.Skip(n)
					r.Release()
					if errors.Is(err, ErrWouldBlock) {
						select {
						case refused <- struct{}{}:
						default:
						}
						return nil
					}
					return err
				}
				s, addr := startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1),
					WithMaxOutput(64<<10))
				target := s
				if where == "other server" {
					target, _ = startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1),
						WithMaxOutput(64<<10))
				}
				u, err := (&Dialer{Server: target}).DialContext(context.Background(), "tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer u.Close()
				up.Store(u)
				c1 := dialTCP(t, addr)
				go c1.Write(make([]byte, first))
				testutil.Receive(t, refused, 10*time.Second, "a refused relay Write")
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
				checkNoRelays(t, s, target)
			})
		}
	}
}
