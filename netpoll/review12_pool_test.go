package netpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/gopool"
	"github.com/upoll/upoll/internal/testutil"
)

// review12Modes are the dispatch modes that run handlers on the pool.
var review12Modes = []Dispatch{DispatchPool, DispatchEach}

// review12Pool returns a pool of capacity workers under pol, closed
// when the test ends (after the server, registered later, has closed).
func review12Pool(t *testing.T, capacity int, pol gopool.Policy) *gopool.Pool {
	t.Helper()
	p, err := gopool.New(gopool.WithCapacity(capacity), gopool.WithPolicy(pol))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Release(ctx); err != nil && !errors.Is(err, gopool.ErrPoolClosed) {
			t.Errorf("pool Release: %v", err)
		}
	})
	return p
}

// review12Guard counts the handler runs of each connection in flight,
// to catch two at once.
type review12Guard struct {
	m       sync.Map // *Conn -> *atomic.Int32
	overlap atomic.Int32
	now     atomic.Int32 // handler runs in flight, all connections
	most    atomic.Int32
}

func (g *review12Guard) enter(c *Conn) func() {
	v, _ := g.m.LoadOrStore(c, new(atomic.Int32))
	n := v.(*atomic.Int32)
	if n.Add(1) != 1 {
		g.overlap.Add(1)
	}
	all := g.now.Add(1)
	for m := g.most.Load(); all > m && !g.most.CompareAndSwap(m, all); m = g.most.Load() {
	}
	return func() { g.now.Add(-1); n.Add(-1) }
}

// expectEcho reads want from c within d.
func expectEcho(t *testing.T, c net.Conn, want string, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, len(want))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != want {
		t.Errorf("%v: read %q, %v; want %q", c.LocalAddr(), buf, err, want)
	}
}

// TestReview12FullPoolServesOthers: every worker of a small pool is held
// by a handler that blocks (not for input). Meanwhile the poller keeps
// reading: the held connections' further input and other connections'
// requests are read (BytesIn), none is lost, no handler of one
// connection overlaps another run of it, and under Block no more
// handlers run than the pool's capacity. Once the workers are freed,
// every connection is answered, its bytes in order, after its OnConnect
// (itself a pool run, queued with the others), and a new one is served.
func TestReview12FullPoolServesOthers(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	for _, mode := range review12Modes {
		for _, pol := range []gopool.Policy{gopool.Block, gopool.CallerRuns} {
			for _, trig := range allTriggers {
				t.Run(fmt.Sprintf("%v/%v/%v", mode, pol, trig), func(t *testing.T) {
					review12FullPool(t, mode, pol, trig)
				})
			}
		}
	}
}

func review12FullPool(t *testing.T, mode Dispatch, pol gopool.Policy, trig Trigger) {
	testutil.CheckLeaks(t)
	const capacity, others = 2, 6
	pool := review12Pool(t, capacity, pol)
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	entered := make(chan struct{}, capacity)
	var g review12Guard
	var noHook atomic.Int32
	s, addr := startServer(t, func(c *Conn) error {
		defer g.enter(c)()
		if c.Context() != "connected" {
			noHook.Add(1)
		}
		r, w := c.Reader(), c.Writer()
		for r.Len() > 0 {
			b, err := r.Next(1)
			if err != nil {
				return err
			}
			if b[0] == 'B' {
				entered <- struct{}{}
				<-gate
			}
			w.WriteBinary(b)
			r.Release()
		}
		return w.Flush()
	}, WithPool(pool), WithDispatch(mode), WithTrigger(trig), WithPollers(2),
		WithOnConnect(func(c *Conn) { c.SetContext("connected") }))

	held := make([]*net.TCPConn, capacity)
	for i := range held {
		held[i] = dialTCP(t, addr)
		held[i].Write([]byte("B"))
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatalf("blocking handler %d never started (pool %+v)", i, pool.Stats())
		}
	}
	in0 := s.Stats().BytesIn
	held[0].Write([]byte("123"))
	conns := make([]*net.TCPConn, others)
	for i := range conns {
		conns[i] = dialTCP(t, addr)
		conns[i].Write([]byte(fmt.Sprintf("x%d", i)))
	}
	// OneShot re-arms a connection once its run is done (OnConnect's,
	// for a new one), so it reads nothing of these until a worker frees.
	want := uint64(3 + 2*others)
	if trig != OneShot && !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BytesIn-in0 >= want }) {
		t.Fatalf("the poller read %d of %d bytes while the pool was full", s.Stats().BytesIn-in0, want)
	}
	if pol == gopool.Block {
		time.Sleep(50 * time.Millisecond) // a run over the bound would have begun
		if m := g.most.Load(); m > capacity {
			t.Errorf("%d handlers ran at once on a pool of %d under Block", m, capacity)
		}
	}
	open()
	expectEcho(t, held[0], "B123", 5*time.Second)
	expectEcho(t, held[1], "B", 5*time.Second)
	for i, c := range conns {
		expectEcho(t, c, fmt.Sprintf("x%d", i), 5*time.Second)
	}
	late := dialTCP(t, addr)
	late.Write([]byte("late"))
	expectEcho(t, late, "late", 5*time.Second)
	if n := g.overlap.Load(); n != 0 {
		t.Errorf("%d handler runs overlapped another of their connection", n)
	}
	if n := noHook.Load(); n != 0 {
		t.Errorf("%d handler runs before their connection's OnConnect", n)
	}
	t.Logf("pool %+v, most handlers at once %d", pool.Stats(), g.most.Load())
}

// TestReview12PipelinedOrderFullPool: connections pipeline numbered
// 8-byte frames, some split across writes, to handlers that read them
// with Next (waiting for the rest of a split frame) on a pool of two
// workers, so that most runs find the pool full. Each connection's
// frames are seen once, in order, by runs that never overlap, and every
// frame is answered.
func TestReview12PipelinedOrderFullPool(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	for _, mode := range review12Modes {
		for _, pol := range []gopool.Policy{gopool.Block, gopool.CallerRuns} {
			t.Run(fmt.Sprintf("%v/%v", mode, pol), func(t *testing.T) {
				testutil.CheckLeaks(t)
				const conns, frames = 12, 60
				pool := review12Pool(t, 2, pol)
				var g review12Guard
				var mu sync.Mutex
				next := map[*Conn]uint32{}
				problems := make(chan error, conns*frames)
				_, addr := startServer(t, func(c *Conn) error {
					defer g.enter(c)()
					r, w := c.Reader(), c.Writer()
					for r.Len() > 0 {
						b, err := r.Next(8)
						if err != nil {
							return err
						}
						seq := uint32(b[0])<<8 | uint32(b[1])
						mu.Lock()
						if seq != next[c] {
							problems <- fmt.Errorf("frame %d, expected %d", seq, next[c])
						}
						next[c] = seq + 1
						mu.Unlock()
						if seq%16 == 3 {
							time.Sleep(time.Millisecond) // keep the pool busy
						}
						w.WriteBinary(b[:2])
						r.Release()
						if err := w.Flush(); err != nil {
							return err
						}
					}
					return nil
				}, WithPool(pool), WithDispatch(mode), WithPollers(2), WithReadTimeout(5*time.Second))
				var wg sync.WaitGroup
				for i := range conns {
					c := dialTCP(t, addr)
					c.SetDeadline(time.Now().Add(30 * time.Second))
					wg.Go(func() {
						for f := range frames {
							b := []byte{byte(f >> 8), byte(f), 0, 0, 0, 0, 0, 0}
							if f%7 == i%7 {
								c.Write(b[:3])
								time.Sleep(time.Millisecond)
								c.Write(b[3:])
							} else {
								c.Write(b)
							}
						}
					})
					wg.Go(func() {
						ack := make([]byte, 2)
						for f := range frames {
							if _, err := io.ReadFull(c, ack); err != nil {
								t.Errorf("conn %d: ack %d: %v", i, f, err)
								return
							}
							if got := int(ack[0])<<8 | int(ack[1]); got != f {
								t.Errorf("conn %d: ack %d, want %d", i, got, f)
								return
							}
						}
					})
				}
				testutil.WaitGroup(t, &wg, time.Minute, "the clients")
				close(problems)
				for err := range problems {
					t.Error(err)
				}
				if n := g.overlap.Load(); n != 0 {
					t.Errorf("%d handler runs overlapped another of their connection", n)
				}
			})
		}
	}
}

// TestReview12PanicFullPool: on a one-worker pool, handlers that panic
// close only their own connection (OnDisconnect sees ErrHandlerPanic),
// and the worker goes on serving the others.
func TestReview12PanicFullPool(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	for _, mode := range review12Modes {
		t.Run(mode.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			pool := review12Pool(t, 1, gopool.Block)
			var panicked atomic.Int32
			_, addr := startServer(t, func(c *Conn) error {
				r := c.Reader()
				b, err := r.Next(r.Len())
				if err != nil {
					return err
				}
				if b[0] == 'p' {
					panic("review12")
				}
				c.Writer().WriteBinary(b)
				r.Release()
				return c.Writer().Flush()
			}, WithPool(pool), WithDispatch(mode), WithPollers(1),
				WithOnDisconnect(func(_ *Conn, err error) {
					if errors.Is(err, ErrHandlerPanic) {
						panicked.Add(1)
					}
				}))
			good := dialTCP(t, addr)
			const bad = 20
			for i := range bad {
				c := dialTCP(t, addr)
				c.Write([]byte("p"))
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := c.Read(make([]byte, 1)); err == nil {
					t.Fatalf("panicking conn %d: read %d bytes; want it closed", i, n)
				}
				msg := fmt.Sprintf("ok%d", i)
				good.Write([]byte(msg))
				expectEcho(t, good, msg, 5*time.Second)
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return panicked.Load() == bad }) {
				t.Errorf("%d disconnects with ErrHandlerPanic, want %d", panicked.Load(), bad)
			}
		})
	}
}

// TestReview12ShutdownWithQueuedRuns: Shutdown while handler runs wait
// for a worker of a full pool. Their input was read, so Shutdown lets
// them run (under Block) and answers every request before it returns;
// under FailFast they are refused, and their connections closed with
// ErrPoolOverload. Shutdown returns nil either way once the blocked
// handler is let go.
func TestReview12ShutdownWithQueuedRuns(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	for _, mode := range review12Modes {
		for _, pol := range []gopool.Policy{gopool.Block, gopool.FailFast} {
			t.Run(fmt.Sprintf("%v/%v", mode, pol), func(t *testing.T) {
				testutil.CheckLeaks(t)
				pool := review12Pool(t, 1, pol)
				gate, entered := make(chan struct{}), make(chan struct{}, 1)
				var once sync.Once
				open := func() { once.Do(func() { close(gate) }) }
				t.Cleanup(open)
				var refused atomic.Int32
				s, addr := startServer(t, func(c *Conn) error {
					r := c.Reader()
					b, err := r.Next(r.Len())
					if err != nil {
						return err
					}
					if b[0] == 'B' {
						entered <- struct{}{}
						<-gate
					}
					c.Writer().WriteBinary(b)
					r.Release()
					return c.Writer().Flush()
				}, WithPool(pool), WithDispatch(mode), WithPollers(1),
					WithOnDisconnect(func(_ *Conn, err error) {
						if errors.Is(err, ErrPoolOverload) {
							refused.Add(1)
						}
					}))
				a := dialTCP(t, addr)
				a.Write([]byte("B"))
				select {
				case <-entered:
				case <-time.After(5 * time.Second):
					t.Fatal("the blocking handler never started")
				}
				const queued = 4
				conns := make([]*net.TCPConn, queued)
				in0 := s.Stats().BytesIn
				for i := range conns {
					conns[i] = dialTCP(t, addr)
					conns[i].Write([]byte(fmt.Sprintf("q%d", i)))
				}
				if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BytesIn-in0 >= 2*queued }) {
					t.Fatal("the queued requests were not read")
				}
				shut := make(chan error, 1)
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					shut <- s.Shutdown(ctx)
				}()
				select {
				case err := <-shut:
					t.Fatalf("Shutdown returned %v while a handler ran", err)
				case <-time.After(100 * time.Millisecond):
				}
				open()
				expectEcho(t, a, "B", 5*time.Second)
				for i, c := range conns {
					if pol == gopool.FailFast {
						c.SetReadDeadline(time.Now().Add(5 * time.Second))
						if _, err := c.Read(make([]byte, 2)); err == nil {
							// Refusal is per run: one that found the
							// worker free after the gate is answered.
							continue
						}
						continue
					}
					expectEcho(t, c, fmt.Sprintf("q%d", i), 5*time.Second)
				}
				select {
				case err := <-shut:
					if err != nil {
						t.Fatalf("Shutdown = %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("Shutdown did not return")
				}
				if pol == gopool.FailFast && refused.Load() == 0 {
					t.Errorf("FailFast refused no queued run")
				}
				t.Logf("refused %d", refused.Load())
			})
		}
	}
}

// TestReview12CloseWithQueuedRuns: Server.Close while handler runs wait
// in the backlog for a worker of a pool that something else holds. Close
// returns at once and the clients see their connections end; once the
// worker is free, each connection's OnDisconnect runs exactly once, with
// ErrServerClosed, and nothing is left behind.
func TestReview12CloseWithQueuedRuns(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	for _, mode := range review12Modes {
		t.Run(mode.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			pool := review12Pool(t, 1, gopool.Block)
			gate, held := make(chan struct{}), make(chan struct{})
			var once sync.Once
			open := func() { once.Do(func() { close(gate) }) }
			t.Cleanup(open)
			var mu sync.Mutex
			discs := map[*Conn][]error{}
			s, addr := startServer(t, echoHandler, WithPool(pool), WithDispatch(mode), WithPollers(1),
				WithOnDisconnect(func(c *Conn, err error) {
					mu.Lock()
					discs[c] = append(discs[c], err)
					mu.Unlock()
				}))
			const n = 4
			conns := make([]*net.TCPConn, n)
			for i := range conns { // connected and served once
				conns[i] = dialTCP(t, addr)
				conns[i].Write([]byte("a"))
				expectEcho(t, conns[i], "a", 5*time.Second)
			}
			if err := pool.Go(func() { close(held); <-gate }); err != nil {
				t.Fatal(err)
			}
			<-held
			in0 := s.Stats().BytesIn
			for _, c := range conns {
				c.Write([]byte("b"))
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BytesIn-in0 >= n }) {
				t.Fatal("the requests were not read")
			}
			closed := make(chan error, 1)
			go func() { closed <- s.Close() }()
			select {
			case err := <-closed:
				if err != nil {
					t.Fatalf("Close = %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close waits for the pool")
			}
			for i, c := range conns {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
					t.Errorf("conn %d after Close: %v; want it closed", i, err)
				}
			}
			open()
			if !testutil.WaitFor(5*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(discs) == n
			}) {
				t.Fatalf("%d OnDisconnect calls, want %d", len(discs), n)
			}
			time.Sleep(20 * time.Millisecond) // a second call would come now
			mu.Lock()
			defer mu.Unlock()
			for c, errs := range discs {
				if len(errs) != 1 || !errors.Is(errs[0], ErrServerClosed) {
					t.Errorf("%v: OnDisconnect calls %v; want one, ErrServerClosed", c.RemoteAddr(), errs)
				}
			}
		})
	}
}

// TestReview12PoolClosedUnderServer: the handler pool is closed while
// the Server still runs (a shutdown in the wrong order). The Server must
// not hang or drop input silently: every request is answered or its
// connection closed, and Close then ends everything.
func TestReview12PoolClosedUnderServer(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	for _, mode := range review12Modes {
		t.Run(mode.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			pool := review12Pool(t, 2, gopool.Block)
			var discs atomic.Int32
			_, addr := startServer(t, echoHandler, WithPool(pool), WithDispatch(mode), WithPollers(1),
				WithOnDisconnect(func(*Conn, error) { discs.Add(1) }))
			a := dialTCP(t, addr)
			a.Write([]byte("x"))
			expectEcho(t, a, "x", 5*time.Second)
			if err := pool.Close(); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				c := dialTCP(t, addr)
				for _, cc := range []*net.TCPConn{a, c} {
					msg := fmt.Sprintf("m%d", i)
					cc.Write([]byte(msg))
					cc.SetReadDeadline(time.Now().Add(5 * time.Second))
					buf := make([]byte, len(msg))
					_, err := io.ReadFull(cc, buf)
					if isTimeout(err) {
						t.Fatalf("request %d on a closed pool neither answered nor refused", i)
					}
				}
			}
		})
	}
}

// TestReview12ZeroPool: WithPool given a gopool.Pool not made by New (a
// zero value), or one closed already. Such a pool runs nothing: every
// connection would close with ErrPoolClosed, its handler never run. It
// is refused where it is given, by NewServer (with a handler or
// without) and by a Dialer's dial, on every backend, with an error
// that says so; the dial connects nowhere.
func TestReview12ZeroPool(t *testing.T) {
	closed, err := gopool.New()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	for _, tc := range []struct {
		name string
		pool *gopool.Pool
		says string
	}{
		{"zero", new(gopool.Pool), "not made by New"},
		{"closed", closed, "pool closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			check := func(what string, err error) {
				t.Helper()
				if !errors.Is(err, ErrBadConfig) || !errors.Is(err, gopool.ErrPoolClosed) || !strings.Contains(fmt.Sprint(err), tc.says) {
					t.Errorf("%s: err %v; want one matching ErrBadConfig and gopool.ErrPoolClosed that says %q", what, err, tc.says)
				}
			}
			for _, h := range []Handler{echoHandler, nil} {
				s, err := NewServer(h, WithPool(tc.pool))
				if err == nil {
					s.Close()
				}
				check(fmt.Sprintf("NewServer (handler %t)", h != nil), err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() {
				if c, err := ln.Accept(); err == nil {
					accepted <- c
				}
			}()
			d := &Dialer{Options: []Option{WithPool(tc.pool)}}
			c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
			if err == nil {
				c.Close()
			}
			check("Dial", err)
			select {
			case c := <-accepted:
				c.Close()
				t.Error("the refused dial connected")
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

// TestReview12BacklogKeepsEachConnsPool: connections of the default
// dial group are served by the pollers of every Dialer, each with its own
// options, WithPool included. A run that found its pool full waits in
// its poller's backlog; the backlog must submit it to that connection's
// pool, not to the pool of the run that started the backlog's
// goroutine. Here B's hook run starts the backlog on B's full pool, A's
// joins it behind, and B's pool frees first: A's OnConnect must still
// wait for a worker of A's pool, which is full until the end.
func TestReview12BacklogKeepsEachConnsPool(t *testing.T) {
	skipStd(t, "hooks run on each connection's goroutine, not on the pool")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accept and hold every peer until the listener closes
		var peers []net.Conn
		defer func() {
			for _, c := range peers {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peers = append(peers, c)
		}
	}()
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	warm, err := new(Dialer).DialContext(ctx, "tcp", addr) // starts the default group
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()

	hold := func(p *gopool.Pool) (open func()) {
		gate, held := make(chan struct{}), make(chan struct{})
		if err := p.Go(func() { close(held); <-gate }); err != nil {
			t.Fatal(err)
		}
		<-held
		var once sync.Once
		open = func() { once.Do(func() { close(gate) }) }
		t.Cleanup(open)
		return open
	}
	poolA, poolB := review12Pool(t, 1, gopool.Block), review12Pool(t, 1, gopool.Block)
	openA, openB := hold(poolA), hold(poolB)
	var aOpened, early atomic.Bool
	var aRan atomic.Int32
	bRan := make(chan struct{}, 1)
	dA := Dialer{Options: []Option{WithPool(poolA), WithOnConnect(func(*Conn) {
		if !aOpened.Load() {
			early.Store(true)
		}
		aRan.Add(1)
	})}}
	dB := Dialer{Options: []Option{WithPool(poolB), WithOnConnect(func(*Conn) { bRan <- struct{}{} })}}

	cB, err := dB.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cB.Close()
	if !testutil.WaitFor(5*time.Second, func() bool { return poolB.Stats().Waiting == 1 }) {
		t.Fatalf("B's hook run is not waiting for B's pool: %+v", poolB.Stats())
	}
	// Dial A until a connection lands on B's poller (round robin).
	var as []*Conn
	defer func() {
		for _, c := range as {
			c.Close()
		}
	}()
	for range 64 {
		c, err := dA.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, c)
		if c.p == cB.p {
			break
		}
	}
	if as[len(as)-1].p != cB.p {
		t.Skip("no A connection landed on B's poller")
	}
	time.Sleep(20 * time.Millisecond) // A's run is in the backlog behind B's
	openB()
	select {
	case <-bRan:
	case <-time.After(5 * time.Second):
		t.Fatal("B's OnConnect never ran")
	}
	time.Sleep(100 * time.Millisecond) // A's run, if sent to B's pool, runs now
	aOpened.Store(true)
	openA()
	if !testutil.WaitFor(5*time.Second, func() bool { return int(aRan.Load()) == len(as) }) {
		t.Fatalf("%d of %d A hooks ran", aRan.Load(), len(as))
	}
	if early.Load() {
		t.Error("an A connection's OnConnect ran while A's pool was full: its backlogged run went to B's pool")
	}
}
