package netpoll

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/gopool"
	"github.com/upoll/upoll/internal/testutil"
)

// backlogServeBound is how long a run whose own pool has a free worker
// may take to start while another pool is full.
const backlogServeBound = 2 * time.Second

// holdPool fills p (capacity 1) with a task that waits for the returned
// open, which the test's cleanup also calls.
func holdPool(t *testing.T, p *gopool.Pool) (open func()) {
	t.Helper()
	gate, held := make(chan struct{}), make(chan struct{})
	if err := p.Go(func() { close(held); <-gate }); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, held, 5*time.Second, "the task holding the pool")
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	return open
}

// TestBacklogServersApart: two Servers, each with a pool of its own,
// both held full, and a request to each waiting in a backlog for its
// pool. Once B's pool frees, B's request must be answered at once, while
// A's pool is still full. (Each Server has pollers of its own, and so
// backlogs of its own.)
func TestBacklogServersApart(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	testutil.CheckLeaks(t)
	poolA, poolB := review12Pool(t, 1, gopool.Block), review12Pool(t, 1, gopool.Block)
	openA, openB := holdPool(t, poolA), holdPool(t, poolB)
	_, addrA := startServer(t, echoHandler, WithPool(poolA), WithDispatch(DispatchPool), WithPollers(1))
	_, addrB := startServer(t, echoHandler, WithPool(poolB), WithDispatch(DispatchPool), WithPollers(1))
	a, b := dialTCP(t, addrA), dialTCP(t, addrB)
	a.Write([]byte("a"))
	b.Write([]byte("b"))
	for _, p := range []*gopool.Pool{poolA, poolB} {
		if !testutil.WaitFor(5*time.Second, func() bool { return p.Stats().Waiting == 1 }) {
			t.Fatalf("no run waits for its pool: %+v", p.Stats())
		}
	}
	openB()
	expectEcho(t, b, "b", backlogServeBound)
	openA()
	expectEcho(t, a, "a", 5*time.Second)
}

// TestBacklogPoolsApart: the default dial group's pollers serve the
// connections of every Dialer, each with its own pool (WithPool). The
// pools of Dialers A and B are both held full. On every poller a run of
// A (its OnConnect) waits in the backlog for A's pool, and then a run of
// B joins one of those backlogs. Once B's pool frees, B's OnConnect must
// run at once, not when A's pool frees: a full pool must not hold up the
// runs of another pool. Once A's pool frees, A's hooks all run, one at a
// time (its capacity).
func TestBacklogPoolsApart(t *testing.T) {
	skipStd(t, "hooks run on each connection's goroutine, not on the pool")
	g, err := dialGroup()
	if err != nil {
		t.Fatal(err)
	}
	if g.owner.cfg.Backend == BackendStd {
		t.Skip("backend std: hooks run on each connection's goroutine, not on the pool")
	}
	testutil.CheckLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peersDone := make(chan struct{})
	go func() { // accept and hold every peer until the listener closes
		defer close(peersDone)
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
	t.Cleanup(func() { ln.Close(); <-peersDone })
	addr := ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	poolA, poolB := review12Pool(t, 1, gopool.Block), review12Pool(t, 1, gopool.Block)
	openA, openB := holdPool(t, poolA), holdPool(t, poolB)
	var aRan, aNow, aMost atomic.Int32
	bRan := make(chan struct{}, 1)
	dA := Dialer{Options: []Option{WithPool(poolA), WithOnConnect(func(*Conn) {
		if n := aNow.Add(1); n > aMost.Load() {
			aMost.Store(n)
		}
		aRan.Add(1)
		aNow.Add(-1)
	})}}
	dB := Dialer{Options: []Option{WithPool(poolB), WithOnConnect(func(*Conn) { bRan <- struct{}{} })}}
	var as []*Conn
	t.Cleanup(func() {
		for _, c := range as {
			c.Close()
		}
	})
	// An A connection on every poller, whose run waits for A's pool.
	on := make(map[*poller]bool)
	for i := 0; i < 64*len(g.pollers) && len(on) < len(g.pollers); i++ {
		c, err := dA.DialContext(ctx, "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, c)
		on[c.p] = true
	}
	if len(on) < len(g.pollers) {
		t.Skipf("A's connections landed on %d of %d pollers", len(on), len(g.pollers))
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return poolA.Stats().Waiting == len(g.pollers) }) {
		t.Fatalf("A's runs are not waiting for A's pool on all %d pollers: %+v", len(g.pollers), poolA.Stats())
	}
	cB, err := dB.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cB.Close()
	// DialContext has dispatched B's run, which found B's pool full: it
	// is in the backlog of cB's poller, behind a run of A.
	openB()
	select {
	case <-bRan:
	case <-time.After(backlogServeBound):
		t.Errorf("B's OnConnect did not run within %v of B's pool freeing, while A's pool was full", backlogServeBound)
	}
	if n := aRan.Load(); n != 0 {
		t.Errorf("%d A hooks ran while A's pool was full", n)
	}
	openA()
	if !testutil.WaitFor(5*time.Second, func() bool { return int(aRan.Load()) == len(as) }) {
		t.Fatalf("%d of %d A hooks ran", aRan.Load(), len(as))
	}
	if m := aMost.Load(); m > 1 {
		t.Errorf("%d A hooks ran at once on a pool of 1", m)
	}
}

// TestBacklogRefusalHooksApart: a pool that refuses runs (FailFast,
// held full) closes their connections, and each closed connection's
// OnDisconnect runs. A hook that blocks must not hold up the hooks of
// the pool's other refused connections, nor the refusals behind it: the
// first connection's OnDisconnect blocks until the test ends it, and
// the second's must run meanwhile.
func TestBacklogRefusalHooksApart(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	testutil.CheckLeaks(t)
	pool := review12Pool(t, 1, gopool.FailFast)
	holdPool(t, pool)
	first := make(chan struct{})
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the server's close, registered earlier
	var calls atomic.Int32
	second := make(chan struct{}, 1)
	_, addr := startServer(t, echoHandler, WithPool(pool), WithDispatch(DispatchPool), WithPollers(1),
		WithOnDisconnect(func(*Conn, error) {
			if calls.Add(1) == 1 {
				close(first)
				<-release
				return
			}
			second <- struct{}{}
		}))
	a := dialTCP(t, addr)
	a.Write([]byte("a"))
	testutil.Receive(t, first, 5*time.Second, "the first refused connection's OnDisconnect")
	b := dialTCP(t, addr)
	b.Write([]byte("b"))
	select {
	case <-second:
	case <-time.After(backlogServeBound):
		t.Errorf("the second refused connection's OnDisconnect did not run within %v while the first one's blocked", backlogServeBound)
	}
	unblock()
	for _, c := range []net.Conn{a, b} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || isTimeout(err) {
			t.Errorf("a refused connection read %d bytes, err %v; want its end", n, err)
		}
	}
}
