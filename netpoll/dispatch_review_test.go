package netpoll

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/gopool"
)

// sleepyEcho echoes what arrived; a frame that begins with 's' sleeps
// 100 ms first (the watchdog then hands the poller's duty off).
func sleepyEcho(c *Conn) error {
	r, w := c.Reader(), c.Writer()
	b, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	if len(b) > 0 && b[0] == 's' {
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := w.WriteBinary(b); err != nil {
		return err
	}
	return w.Flush()
}

func roundTripWithin(t *testing.T, c net.Conn, msg string, d time.Duration) error {
	t.Helper()
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return err
}

// TestHandoffLeaderLeavesPoolFree: a hand-off's new leader keeps the
// loop until the next hand-off, possibly for good, so it must not be a
// pool worker. Before, it was one when one was free: with a pool of one
// worker, every later pool task (OnConnect, OnDisconnect) waited for a
// worker that never came back, and new connections were never served.
func TestHandoffLeaderLeavesPoolFree(t *testing.T) {
	skipStd(t, "the poller hand-off")
	pool, err := gopool.New(gopool.WithCapacity(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	connected := make(chan struct{}, 16)
	_, addr := startServer(t, sleepyEcho, WithPool(pool), WithPollers(1),
		WithDispatch(DispatchHandoff),
		WithOnConnect(func(*Conn) { connected <- struct{}{} }))

	a := dialTCP(t, addr)
	select {
	case <-connected:
	case <-time.After(3 * time.Second):
		t.Fatal("first OnConnect never ran")
	}
	time.Sleep(50 * time.Millisecond) // OnConnect's worker is back in the pool
	// A run on the leader that sleeps: the watchdog hands the loop off,
	// to the pool's only worker.
	if err := roundTripWithin(t, a, "sleep", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("pool after hand-off: %+v", pool.Stats())

	b := dialTCP(t, addr)
	if err := roundTripWithin(t, b, "hello", 3*time.Second); err != nil {
		t.Fatalf("second connection not served: %v (pool %+v)", err, pool.Stats())
	}
}

// TestDispatchFrameOverMaxInput: a frame larger than MaxInput. A handler
// that waits for it (Next) raises the connection's bound under every
// dispatch. Inline, Next returns ErrWouldBlock and the handler runs
// again as input comes; before, it returned before it published what it
// waited for, reading stopped at MaxInput, and the handler was never run
// again, though the rest of the frame was in the kernel.
func TestDispatchFrameOverMaxInput(t *testing.T) {
	skipStd(t, "dispatch modes")
	const frame = 64 << 10
	for _, d := range []Dispatch{DispatchHandoff, DispatchPool, DispatchInline} {
		t.Run(d.String(), func(t *testing.T) {
			h := func(c *Conn) error {
				r, w := c.Reader(), c.Writer()
				b, err := r.Next(frame)
				if err == ErrWouldBlock {
					return nil
				}
				if err != nil {
					return err
				}
				w.WriteBinary(b[:1])
				return w.Flush()
			}
			_, addr := startServer(t, h, WithDispatch(d), WithPollers(1), WithMaxInput(16<<10))
			c := dialTCP(t, addr)
			c.SetDeadline(time.Now().Add(3 * time.Second))
			go c.Write(make([]byte, frame))
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatalf("no answer to a %d-byte frame with MaxInput 16 KiB: %v", frame, err)
			}
		})
	}
}

// TestInlineFlushToOtherConnOfLoop: an inline handler that writes to
// another connection of its own poller (a relay, a broadcast). That
// connection's Flush, above MaxOutput, must say ErrWouldBlock rather
// than wait for the loop it runs on to send the rest. Before, only the
// flushed connection's own inline flag was looked at: the Flush slept on
// the loop, which never ran again, though the sink's peer read
// everything, and every connection of the poller was dead.
func TestInlineFlushToOtherConnOfLoop(t *testing.T) {
	skipStd(t, "dispatch modes")
	for _, d := range []Dispatch{DispatchHandoff, DispatchInline} {
		t.Run(d.String(), func(t *testing.T) {
			var sink atomic.Pointer[Conn]
			h := func(c *Conn) error {
				r := c.Reader()
				if _, err := r.Next(r.Len()); err != nil {
					return err
				}
				if c == sink.Load() {
					return nil
				}
				s := sink.Load()
				sw := s.Writer()
				if _, err := sw.WriteBinary(make([]byte, 64<<20)); err != nil {
					return err
				}
				if err := sw.Flush(); err != nil && err != ErrWouldBlock {
					return err
				}
				w := c.Writer()
				w.WriteByte('k')
				return w.Flush()
			}
			_, addr := startServer(t, h, WithDispatch(d), WithPollers(1),
				WithOnConnect(func(c *Conn) { sink.CompareAndSwap(nil, c) }))
			b := dialTCP(t, addr)
			for sink.Load() == nil {
				time.Sleep(time.Millisecond)
			}
			go func() { time.Sleep(300 * time.Millisecond); io.Copy(io.Discard, b) }() // the sink's peer reads all it gets, from 300 ms on
			a := dialTCP(t, addr)
			a.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := a.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(a, make([]byte, 1)); err != nil {
				t.Fatalf("no answer: %v", err)
			}
		})
	}
}

// TestInlineRunsOnItsOwnLoop: under DispatchInline a connection's
// OnConnect and first handler runs go to its own poller's loop. Before,
// they ran on the loop of the poller that accepted it (serveConn ->
// dispatch -> run); a Next there did not see itself on a loop
// (onInlineLoop looks at the connection's) and slept: the acceptor's
// loop waited for the peer, and accepted and served nothing else.
func TestInlineRunsOnItsOwnLoop(t *testing.T) {
	skipStd(t, "dispatch modes")
	h := func(c *Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Peek(1)
		if err != nil {
			return nil
		}
		if b[0] == 'f' {
			if _, err := r.Next(10); err != nil {
				if err == ErrWouldBlock {
					return nil
				}
				return err
			}
			return nil
		}
		b, _ = r.Next(r.Len())
		w.WriteBinary(b)
		return w.Flush()
	}
	_, addr := startServer(t, h, WithDispatch(DispatchInline), WithPollers(2),
		WithOnConnect(func(c *Conn) { time.Sleep(50 * time.Millisecond) }))
	for range 2 {
		f := dialTCP(t, addr)
		f.Write([]byte("fffff")) // half a frame, while OnConnect sleeps
		time.Sleep(100 * time.Millisecond)
	}
	z := dialTCP(t, addr)
	if err := roundTripWithin(t, z, "hi", 3*time.Second); err != nil {
		t.Fatalf("a new connection is not served: %v", err)
	}
}
