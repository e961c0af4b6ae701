package netpoll

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUringGate: under WaitAdaptive the ring reaches the runtime's
// netpoller through a gate (runtimePark.gate), and only WaitAdaptive has
// one. While a goroutine keeps the other P busy the loop parks in the
// runtime instead of blocking in io_uring_enter (mayBlock), and each
// park must be woken through the gate it armed: every round trip comes
// back promptly. A park that left the gate shut would wait for its
// deadline or for good.
func TestUringGate(t *testing.T) {
	needUring(t)
	for _, w := range []WaitStrategy{WaitBlock, WaitRuntime} {
		s, _ := startServer(t, echoHandler, WithBackend(BackendUring), WithWait(w), WithPollers(1))
		if g := s.pollers[0].ep.ur.gate; g != -1 {
			t.Errorf("%v: gate %d, want none", w, g)
		}
	}
	s, addr := startServer(t, echoHandler, WithBackend(BackendUring), WithWait(WaitAdaptive), WithPollers(1))
	if s.pollers[0].ep.ur.gate < 0 {
		t.Fatal("WaitAdaptive: no gate")
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("GOMAXPROCS 1: no P for a busy neighbour")
	}

	// A neighbour that keeps a P running, so that mayBlock declines.
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			for i := 0; i < 1000; i++ {
				_ = i * i
			}
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()

	const conns, rounds = 4, 50
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dialTCP(t, addr)
	}
	msg := bytes.Repeat([]byte("g"), 64)
	got := make([]byte, len(msg))
	var slowest time.Duration
	for r := range rounds {
		for i, c := range cs {
			start := time.Now()
			c.SetDeadline(start.Add(5 * time.Second))
			if _, err := c.Write(msg); err != nil {
				t.Fatalf("round %d conn %d: %v", r, i, err)
			}
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("round %d conn %d: %q, %v", r, i, got, err)
			}
			slowest = max(slowest, time.Since(start))
		}
	}
	t.Logf("slowest round trip %v", slowest)
	if slowest > 2*time.Second {
		t.Errorf("slowest round trip %v: a park was not woken by its completions", slowest)
	}
}
