package netpoll

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestAdaptiveDeclinesBesideRuntimeParks: while a poller of the process
// waits parked in the runtime's netpoller, a WaitAdaptive poller does not
// block in the kernel but parks there too: the thread that polls the
// runtime's netpoller, woken with it, would otherwise hold its P in
// epoll_wait and leave the parked poller to sysmon's poll, every 10 ms.
// The count of parked pollers must come back down when they wake and
// close, or every WaitAdaptive poller of the process would stop blocking
// for good.
func TestAdaptiveDeclinesBesideRuntimeParks(t *testing.T) {
	skipStd(t, "no pollers: BackendStd runs a goroutine per connection")
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("GOMAXPROCS 1: WaitAdaptive never blocks")
	}
	// Pollers of other tests' servers and of the package's dialers may
	// be parked: the test counts its own against them.
	before := runtimePollers.Load()
	// The adaptive server only consumes: its poller decides how to wait
	// while the test's goroutine sleeps, not while an echo readies it
	// (a runnable goroutine makes mayBlock decline anyway).
	sink := func(c *Conn) error { return c.Reader().Skip(c.Reader().Len()) }
	adaptive, aaddr := startServer(t, sink, WithWait(WaitAdaptive), WithPollers(1))
	ac := dialTCP(t, aaddr)
	ac.SetDeadline(time.Now().Add(30 * time.Second))
	// poke makes the adaptive poller serve a byte and wait again, then
	// reports whether cond held within 5 s.
	poke := func(cond func() bool) bool {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if _, err := ac.Write([]byte{1}); err != nil {
				t.Fatal(err)
			}
			for range 10 {
				time.Sleep(time.Millisecond)
				if cond() {
					return true
				}
			}
		}
		return false
	}
	if before == 0 && !poke(func() bool { return blockedPollers.Load() > 0 }) {
		t.Fatalf("the WaitAdaptive poller never blocked with no poller parked in the runtime (blocked %d, parked %d)", blockedPollers.Load(), runtimePollers.Load())
	}

	rt, addr := startServer(t, echoHandler, WithWait(WaitRuntime), WithPollers(1))
	for runtimePollers.Load() <= before {
		if !poke(func() bool { return runtimePollers.Load() > before }) {
			t.Fatal("the WaitRuntime poller was never counted as parked in the runtime")
		}
	}
	// Each poke gives the adaptive poller a wait to choose; it must
	// choose the runtime every time (mayBlock's other conditions let it
	// block within a few pokes, as above).
	for i := range 50 {
		if _, err := ac.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if b := blockedPollers.Load(); b != 0 {
			t.Fatalf("poke %d: %d pollers blocked in the kernel while a poller is parked in the runtime", i, b)
		}
	}
	if n := runtimePollers.Load(); n < before+2 {
		t.Fatalf("%d pollers parked in the runtime, want the WaitAdaptive one beside the WaitRuntime one (%d before)", n, before)
	}

	// Wake the parked WaitRuntime poller many times: each wake gives
	// back its count.
	c := dialTCP(t, addr)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	roundTrips(t, c, 200)
	c.Close()
	ac.Close()
	rt.Close()
	adaptive.Close()
	for deadline := time.Now().Add(5 * time.Second); runtimePollers.Load() != before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d pollers counted as parked in the runtime after both servers closed, want %d", runtimePollers.Load(), before)
		}
		time.Sleep(time.Millisecond)
	}
}

// roundTrips makes n 4-byte echo round trips on c.
func roundTrips(t *testing.T, c net.Conn, n int) {
	t.Helper()
	msg := []byte("ping")
	buf := make([]byte, len(msg))
	for i := range n {
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
}
