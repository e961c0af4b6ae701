package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/gopool"
	"github.com/upoll/upoll/internal/testutil"
)

// TestOneShotReadsNothingWhileBusy: the contract of OneShot against the
// other triggers. A connection's first byte has been read and its
// handler run is either waiting for a worker of a full pool ("queued")
// or running and blocked ("running"). The peer then sends more and
// closes its side. Level- and edge-triggered connections read it (up to
// the input bound) meanwhile; a one-shot one reads nothing until the
// run is done and the registration re-armed, the same whether the run
// waited for a worker or ran: the kernel holds the input. Once the pool
// frees, every trigger answers every byte, in order, and closes.
func TestOneShotReadsNothingWhileBusy(t *testing.T) {
	skipStd(t, "no trigger modes: each connection has a goroutine")
	for _, trig := range allTriggers {
		for _, busy := range []string{"queued", "running"} {
			t.Run(fmt.Sprintf("%v/%s", trig, busy), func(t *testing.T) {
				oneShotBusy(t, trig, busy)
			})
		}
	}
}

func oneShotBusy(t *testing.T, trig Trigger, busy string) {
	testutil.CheckLeaks(t)
	const rest = 1000
	pool := review12Pool(t, 1, gopool.Block)
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(open)
	if busy == "queued" {
		if err := pool.Go(func() { <-gate }); err != nil {
			t.Fatal(err)
		}
	}
	var first sync.Once
	s, addr := startServer(t, func(c *Conn) error {
		if busy == "running" {
			first.Do(func() { entered <- struct{}{}; <-gate })
		}
		return echoHandler(c)
	}, WithPool(pool), WithDispatch(DispatchPool), WithTrigger(trig), WithPollers(1))
	c := dialTCP(t, addr)
	c.Write([]byte("x"))
	if busy == "queued" {
		if !testutil.WaitFor(5*time.Second, func() bool { return pool.Stats().Waiting == 1 }) {
			t.Fatalf("the run is not waiting for the pool: %+v", pool.Stats())
		}
	} else {
		testutil.Receive(t, entered, 5*time.Second, "the handler")
	}
	if n := s.Stats().BytesIn; n != 1 {
		t.Fatalf("BytesIn %d before the rest was sent, want 1", n)
	}
	msg := bytes.Repeat([]byte("y"), rest)
	c.Write(msg)
	c.CloseWrite()
	if trig == OneShot {
		time.Sleep(100 * time.Millisecond) // what a level or edge poller reads at once
		if n := s.Stats().BytesIn; n != 1 {
			t.Errorf("one-shot read %d bytes while its run was %s, want 1 (the first)", n, busy)
		}
	} else if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BytesIn == 1+rest }) {
		t.Errorf("%v read %d bytes while its run was %s, want %d", trig, s.Stats().BytesIn, busy, 1+rest)
	}
	open()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "x"+string(msg) {
		t.Errorf("answer: %d bytes, %v; want %d bytes, then EOF", len(got), err, 1+rest)
	}
}
