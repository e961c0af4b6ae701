package netpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestInlineCrossRelayDoesNotWait: two DispatchInline handlers, each
// writing more than the sockets and MaxOutput hold to the other's
// connection, whose peer reads only once both Writes have returned. An
// inline handler must not wait (its poller's other connections would
// wait with it), and with the two connections on different pollers
// each Write would wait for room that only the other poller's loop
// makes, inside the other handler's Write: with peers that read, one of
// the two Writes ran into its 3 s deadline in about 2 of 5 runs, and
// without deadlines both pollers stopped. Before onInlineLoop looked at
// every inline loop, each Write here waited for its 3 s deadline. Each
// now says ErrWouldBlock at once, as it does where both connections
// share a poller (pollers=1), and its peer then gets exactly the bytes
// the Write counted, in order.
func TestInlineCrossRelayDoesNotWait(t *testing.T) {
	const size = 8 << 20 // far above MaxOutput and the sockets' buffers
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i*7 + i>>11)
	}
	for _, be := range testBackends(false) {
		for _, pollers := range []int{2, 1} {
			t.Run(fmt.Sprintf("%s/pollers=%d", be, pollers), func(t *testing.T) {
				type result struct {
					to   *Conn
					n    int
					err  error
					took time.Duration
				}
				var (
					mu    sync.Mutex
					conns []*Conn
					start sync.WaitGroup
				)
				start.Add(2)
				results := make(chan result, 2)
				h := func(c *Conn) error {
					r := c.Reader()
					r.Skip(r.Len())
					r.Release()
					if c.Context() != nil {
						return nil // the relay ran; later input is dropped
					}
					c.SetContext(true)
					if pollers > 1 {
						start.Done()
						start.Wait() // both handlers run at once, on their loops
					}
					mu.Lock()
					other := conns[0]
					if other == c {
						other = conns[1]
					}
					mu.Unlock()
					other.SetWriteDeadline(time.Now().Add(3 * time.Second))
					t0 := time.Now()
					n, err := other.Write(src)
					results <- result{other, n, err, time.Since(t0)}
					return nil
				}
				_, addr := startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(pollers),
					WithMaxOutput(64<<10),
					WithOnConnect(func(c *Conn) { mu.Lock(); conns = append(conns, c); mu.Unlock() }))
				peers := make([]*net.TCPConn, 2)
				for i := range peers {
					peers[i] = dialTCP(t, addr)
				}
				if !testutil.WaitFor(5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(conns) == 2 }) {
					t.Fatal("the server did not see both connections")
				}
				mu.Lock()
				samePoller := conns[0].p == conns[1].p
				mu.Unlock()
				if samePoller != (pollers == 1) {
					t.Fatalf("with %d pollers the connections share a poller: %v", pollers, samePoller)
				}
				for _, p := range peers {
					if _, err := p.Write([]byte("x")); err != nil {
						t.Fatal(err)
					}
				}
				wrote := map[*Conn]int{}
				for range 2 {
					select {
					case r := <-results:
						if !errors.Is(r.err, ErrWouldBlock) {
							t.Errorf("Write of %d bytes to the other connection: n=%d err=%v after %v; want ErrWouldBlock at once",
								size, r.n, r.err, r.took)
						}
						if r.took > time.Second {
							t.Errorf("Write waited %v", r.took)
						}
						if r.n <= 0 || r.n >= size {
							t.Errorf("Write counted %d bytes; want some and not all of %d", r.n, size)
						}
						wrote[r.to] = r.n
					case <-time.After(10 * time.Second):
						t.Fatal("the relays' Writes did not return (the pollers wait for each other)")
					}
				}
				// Now the peers read, checking the bytes; each must get
				// what its connection's Write counted, and no more.
				var (
					counts [2]atomic.Int64
					bad    [2]atomic.Pointer[error]
				)
				for i, p := range peers {
					p.SetReadDeadline(time.Now().Add(20 * time.Second))
					go func() {
						buf := make([]byte, 64<<10)
						n := 0
						for {
							m, err := p.Read(buf)
							if m > 0 && (n+m > size || string(buf[:m]) != string(src[n:n+m])) {
								e := fmt.Errorf("bytes %d–%d differ from what was written", n, n+m)
								bad[i].Store(&e)
								return
							}
							n += m
							counts[i].Store(int64(n))
							if err != nil {
								return
							}
						}
					}()
				}
				for i, p := range peers {
					var want int
					for c, n := range wrote {
						if c.RemoteAddr().String() == p.LocalAddr().String() {
							want = n
						}
					}
					// Everything counted goes out once the handlers have
					// returned, and nothing more.
					if !testutil.WaitFor(10*time.Second, func() bool { return counts[i].Load() >= int64(want) }) {
						t.Fatalf("peer %d got %d bytes; its connection's Write counted %d", i, counts[i].Load(), want)
					}
					time.Sleep(50 * time.Millisecond)
					if e := bad[i].Load(); e != nil {
						t.Fatalf("peer %d: %v", i, *e)
					}
					if got := counts[i].Load(); got != int64(want) {
						t.Errorf("peer %d got %d bytes; its connection's Write counted %d", i, got, want)
					}
				}
			})
		}
	}
}

// TestInlineRelayToDialedConnFinishes: an inline handler relays what
// its client sends to a connection dialed through the default group (no
// handler), whose peer reads only after a pause; the client sends
// everything at once and then waits. The dialed connection's poller runs
// no inline handler, so the relay's Write waits for room there, as a slow
// handler does, and every byte arrives. Since onInlineLoop looked at
// every inline loop for every connection (46c0c30), that Write said
// ErrWouldBlock once the sockets were full; the handler returned nil
// keeping its input, as ErrWouldBlock's doc asks, and nothing ran it
// again: no more input came, and only its own connection's drain resumes
// it. The upstream got about 4 of 32 MiB (epoll and io_uring).
func TestInlineRelayToDialedConnFinishes(t *testing.T) {
	const size = 32 << 20 // more than the loopback sockets hold
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			start := make(chan struct{})
			time.AfterFunc(500*time.Millisecond, func() { close(start) }) // the relay fills the sockets and its queue
			upstream, got := pausedSink(t, start)
			up, err := (&Dialer{Options: []Option{WithBackend(be)}}).DialContext(context.Background(), "tcp", upstream)
			if err != nil {
				t.Fatal(err)
			}
			defer up.Close()
			var relayErr atomic.Pointer[error]
			h := func(c *Conn) error {
				r := c.Reader()
				b, err := r.Peek(r.Len())
				if err != nil {
					return err
				}
				n, err := up.Write(b)
				r.Skip(n)
				r.Release()
				if err != nil && !errors.Is(err, ErrWouldBlock) {
					relayErr.Store(&err)
					return err
				}
				return nil
			}
			_, addr := startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1),
				WithMaxOutput(64<<10))
			client := dialTCP(t, addr)
			go client.Write(make([]byte, size))
			if !testutil.WaitFor(15*time.Second, func() bool { return got.Load() >= size }) {
				t.Fatalf("the upstream got %d of %d bytes relayed (the relay did not run again once its Write's connection drained)",
					got.Load(), size)
			}
			if e := relayErr.Load(); e != nil {
				t.Fatalf("relay Write: %v", *e)
			}
		})
	}
}

// TestInlineOnDisconnectDoesNotWait: under DispatchInline a connection
// closed by its loop (the peer's end, here) gets its OnDisconnect on
// that loop, like its handler and OnConnect. A hook that writes more
// than fits to another connection of the poller (a chat server telling
// the others that one left) must not wait for room that only that loop
// makes: its Write says ErrWouldBlock, and what it counted goes out
// once the hook returns. The sink's peer reads only once the Write has
// returned: before, the Write waited on the loop, which alone would have
// sent the rest, until its 3 s deadline (without one, for good: a peer
// that reads does not help, the loop sends nothing meanwhile).
func TestInlineOnDisconnectDoesNotWait(t *testing.T) {
	const size = 8 << 20
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			type result struct {
				n    int
				err  error
				took time.Duration
			}
			var sink atomic.Pointer[Conn]
			results := make(chan result, 1)
			h := func(c *Conn) error {
				r := c.Reader()
				r.Skip(r.Len())
				return r.Release()
			}
			_, addr := startServer(t, h, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1),
				WithMaxOutput(64<<10),
				WithOnConnect(func(c *Conn) { sink.CompareAndSwap(nil, c) }),
				WithOnDisconnect(func(c *Conn, _ error) {
					s := sink.Load()
					if c == s {
						return
					}
					s.SetWriteDeadline(time.Now().Add(3 * time.Second))
					t0 := time.Now()
					n, err := s.Write(make([]byte, size))
					results <- result{n, err, time.Since(t0)}
				}))
			sp := dialTCP(t, addr)
			if !testutil.WaitFor(5*time.Second, func() bool { return sink.Load() != nil }) {
				t.Fatal("the sink's OnConnect did not run")
			}
			b := dialTCP(t, addr)
			b.Close()
			var r result
			select {
			case r = <-results:
			case <-time.After(10 * time.Second):
				t.Fatal("OnDisconnect's Write did not return")
			}
			if !errors.Is(r.err, ErrWouldBlock) || r.took > time.Second {
				t.Fatalf("OnDisconnect's Write of %d bytes to another connection of its loop: n=%d err=%v after %v; want ErrWouldBlock at once",
					size, r.n, r.err, r.took)
			}
			if r.n <= 0 || r.n >= size {
				t.Fatalf("Write counted %d bytes; want some and not all of %d", r.n, size)
			}
			// What it counted goes out once the hook has returned.
			var got atomic.Int64
			go func() {
				n, _ := io.Copy(io.Discard, sp)
				got.Store(n)
			}()
			sink.Load().Close()
			if !testutil.WaitFor(10*time.Second, func() bool { return got.Load() == int64(r.n) }) {
				t.Fatalf("the sink's peer got %d bytes; the Write counted %d", got.Load(), r.n)
			}
		})
	}
}

// TestInlineCrossDialDoesNotWait: two DispatchInline Servers, each
// handler dialing through the other's Server at the same time. Each
// connect's outcome was the other Server's poller's to take, and that
// loop was inside the other handler's dial: both dials ran into their
// 3 s timeout (without one both pollers would have stopped). A dial from
// an inline handler through another inline Server now takes the outcome
// from the socket itself, as it does through its own (pollConnect).
func TestInlineCrossDialDoesNotWait(t *testing.T) {
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					defer c.Close()
				}
			}()
			type result struct {
				err  error
				took time.Duration
			}
			var (
				servers [2]atomic.Pointer[Server] // set before the handlers run; the race detector does not see the sockets order it
				start   sync.WaitGroup
			)
			start.Add(2)
			results := make(chan result, 2)
			handler := func(other int) Handler {
				return func(c *Conn) error {
					r := c.Reader()
					r.Skip(r.Len())
					r.Release()
					if c.Context() != nil {
						return nil
					}
					c.SetContext(true)
					start.Done()
					start.Wait() // both handlers run at once, on their loops
					d := Dialer{Server: servers[other].Load(), Timeout: 3 * time.Second}
					t0 := time.Now()
					dc, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
					if err == nil {
						dc.Close()
					}
					results <- result{err, time.Since(t0)}
					return nil
				}
			}
			var addrs [2]string
			for i := range servers {
				s, addr := startServer(t, handler(1-i), WithBackend(be), WithDispatch(DispatchInline), WithPollers(1))
				servers[i].Store(s)
				addrs[i] = addr
			}
			for _, a := range addrs {
				cl := dialTCP(t, a)
				if _, err := cl.Write([]byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 {
				select {
				case r := <-results:
					if r.err != nil || r.took > time.Second {
						t.Errorf("dial through the other Server: %v after %v; want a connection at once", r.err, r.took)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the dials did not return")
				}
			}
		})
	}
}

// TestInlineCrossCloseDoesNotWait: two DispatchInline Servers whose
// handlers close each other's Server at the same time. Close waits for
// the pollers to stop, and each poller's loop was inside the other
// handler's Close: neither returned, and both Servers' pollers stalled
// for good. A Close from a handler of any inline loop now returns
// without waiting for the pollers, as from a handler of the Server's own
// (they stop once the handler returns).
func TestInlineCrossCloseDoesNotWait(t *testing.T) {
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			var (
				servers [2]atomic.Pointer[Server] // set before the handlers run; the race detector does not see the sockets order it
				start   sync.WaitGroup
			)
			start.Add(2)
			closed := make(chan error, 2)
			handler := func(other int) Handler {
				return func(c *Conn) error {
					r := c.Reader()
					r.Skip(r.Len())
					r.Release()
					start.Done()
					start.Wait() // both handlers run at once, on their loops
					closed <- servers[other].Load().Close()
					return nil
				}
			}
			served := make(chan error, 2)
			var addrs [2]string
			for i := range servers {
				s, err := NewServer(handler(1-i), WithBackend(be), WithDispatch(DispatchInline), WithPollers(1))
				if err != nil {
					t.Fatal(err)
				}
				ln, err := s.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				servers[i].Store(s)
				addrs[i] = ln.Addr().String()
				go func() { served <- s.Serve(ln) }()
			}
			for _, a := range addrs {
				cl := dialTCP(t, a)
				if _, err := cl.Write([]byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 {
				select {
				case err := <-closed:
					if err != nil {
						t.Errorf("Close of the other Server: %v", err)
					}
				case <-time.After(5 * time.Second):
					// The pollers are stuck for good: a Close from here
					// would wait for them too.
					t.Fatal("the handlers' Closes of each other's Server did not return")
				}
			}
			for range 2 {
				if err := testutil.Receive(t, served, 5*time.Second, "Serve's return"); !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve: %v, want ErrServerClosed", err)
				}
			}
			// A Close from outside waits for the pollers, which have
			// stopped once the handlers returned.
			for i := range servers {
				done := make(chan error, 1)
				go func() { done <- servers[i].Load().Close() }()
				testutil.Receive(t, done, 5*time.Second, "a later Close")
			}
		})
	}
}
