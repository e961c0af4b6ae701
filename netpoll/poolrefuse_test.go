package netpoll

import (
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

// TestPoolRefusedClosesConn: a connection whose pool can run nothing (a
// gopool.Pool not made by New, or one closed under the Server) has its
// run refused by the pool's Go in the backlog. The backlog must neither
// run the handler itself (on its own goroutine, outside any pool) nor
// retry: the connection closes with a reason matching ErrPoolClosed,
// OnConnect and OnDisconnect run once each, and the peer sees the end.
func TestPoolRefusedClosesConn(t *testing.T) {
	skipStd(t, "handlers run on each connection's goroutine, not on the pool")
	for _, mode := range review12Modes {
		for _, kind := range []string{"closed"} { // a zero pool fails NewServer (TestReview12ZeroPool)
			t.Run(fmt.Sprintf("%v/%s", mode, kind), func(t *testing.T) {
				poolRefused(t, mode, kind)
			})
		}
	}
}

func poolRefused(t *testing.T, mode Dispatch, kind string) {
	testutil.CheckLeaks(t)
	pool := new(gopool.Pool)
	if kind == "closed" {
		pool = review12Pool(t, 2, gopool.Block)
	}
	var handlerRuns, connects atomic.Int32
	var mu sync.Mutex
	var reasons []error
	discs := make(chan struct{}, 4)
	_, addr := startServer(t, func(c *Conn) error {
		handlerRuns.Add(1)
		return echoHandler(c)
	}, WithPool(pool), WithDispatch(mode), WithPollers(1),
		WithOnConnect(func(*Conn) { connects.Add(1) }),
		WithOnDisconnect(func(_ *Conn, err error) {
			mu.Lock()
			reasons = append(reasons, err)
			mu.Unlock()
			discs <- struct{}{}
		}))
	if kind == "closed" {
		// Served first, then the pool goes under the running Server.
		a := dialTCP(t, addr)
		a.Write([]byte("x"))
		expectEcho(t, a, "x", 5*time.Second)
		if err := pool.Close(); err != nil {
			t.Fatal(err)
		}
		handlerRuns.Store(0)
		connects.Store(0)
		a.Write([]byte("y"))
		poolRefusedEnd(t, a)
		testutil.Receive(t, discs, 5*time.Second, "OnDisconnect of the connection served before")
	}
	c := dialTCP(t, addr)
	c.Write([]byte("z"))
	poolRefusedEnd(t, c)
	testutil.Receive(t, discs, 5*time.Second, "OnDisconnect")
	if n := handlerRuns.Load(); n != 0 {
		t.Errorf("the handler ran %d times with no pool to run it on", n)
	}
	want := int32(1) // the new connection's; the served one had its own
	if n := connects.Load(); n != want {
		t.Errorf("OnConnect ran %d times, want %d", n, want)
	}
	time.Sleep(20 * time.Millisecond) // a second OnDisconnect, if any, arrives
	mu.Lock()
	defer mu.Unlock()
	if len(reasons) != map[string]int{"zero": 1, "closed": 2}[kind] {
		t.Errorf("OnDisconnect calls: %v", reasons)
	}
	for _, err := range reasons {
		if !errors.Is(err, ErrPoolClosed) || !errors.Is(err, gopool.ErrPoolClosed) {
			t.Errorf("OnDisconnect's reason %v; want one matching ErrPoolClosed and gopool.ErrPoolClosed", err)
		}
		if kind == "zero" && !strings.Contains(err.Error(), "not made by New") {
			t.Errorf("OnDisconnect's reason %q does not say the pool was not made by New", err)
		}
	}
}

// poolRefusedEnd reads from c until the server's end, with nothing
// echoed before it.
func poolRefusedEnd(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 1))
	switch {
	case isTimeout(err):
		t.Fatal("request neither answered nor refused")
	case n > 0:
		t.Errorf("answered with no pool to run the handler on")
	case err != io.EOF && !errors.Is(err, net.ErrClosed) && !isReset(err):
		t.Errorf("read: %v; want EOF", err)
	}
}
