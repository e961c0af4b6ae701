package netpoll

import (
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestCloseWakesReadWhileLingering: Close wakes a Read blocked on
// another goroutine at once, as Go's does, also when output left queued
// by a timed-out Flush makes the close linger to send it (to a peer that
// does not read, for up to 5 s). Under BackendStd the Read stayed in the
// socket's read until the linger ended and the socket closed.
func TestCloseWakesReadWhileLingering(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithBackend(be))
			cl.SetReadBuffer(16 << 10)
			c.SetWriteBuffer(16 << 10)
			w := c.Writer()
			if _, err := w.WriteBinary(make([]byte, 1<<20)); err != nil {
				t.Fatal(err)
			}
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if err := w.Flush(); !errors.Is(err, errTimeout) {
				t.Fatalf("Flush = %v, want a timeout", err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := c.Read(make([]byte, 16))
				done <- err
			}()
			time.Sleep(50 * time.Millisecond) // the reader blocks first
			start := time.Now()
			c.Close()
			err := testutil.Receive(t, done, 8*time.Second, "Read after Close")
			if d := time.Since(start); d > time.Second || !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Read returned %v after Close, %v; want net.ErrClosed at once", d.Round(time.Millisecond), err)
			}
		})
	}
}

// TestPastWriteDeadlineWakesTimedWrite: a Write blocked on a peer that
// does not read, under a write timeout, is woken by SetWriteDeadline(past)
// from another goroutine, every time, as Go's is. Under BackendStd each
// write sets the socket's deadline from the write timeout and the
// absolute deadline it loads first: a SetWriteDeadline that landed
// between the load and the set was overwritten, and the Write waited for
// its timeout.
func TestPastWriteDeadlineWakesTimedWrite(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithBackend(be))
			cl.SetReadBuffer(4 << 10)
			c.SetWriteBuffer(4 << 10)
			c.SetWriteTimeout(30 * time.Second)
			buf := make([]byte, 64<<10)
			// Fill the socket's buffers and the peer's: every Write
			// below blocks.
			c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			for k := 0; k < 1000; k++ {
				if _, err := c.Write(buf); err != nil {
					break
				}
			}
			for i := 0; i < 3000; i++ {
				c.SetWriteDeadline(time.Time{})
				done := make(chan error, 1)
				go func() {
					_, err := c.Write(buf)
					done <- err
				}()
				// Land the deadline at varied points of the Write's
				// start: before it blocks, as it sets its own deadline.
				switch i % 3 {
				case 0:
					time.Sleep(time.Duration(i%40) * time.Microsecond)
				case 1:
					for k := 0; k < i%64; k++ {
						runtime.Gosched()
					}
				}
				c.SetWriteDeadline(time.Now().Add(-time.Second))
				select {
				case err := <-done:
					if !errors.Is(err, errTimeout) {
						t.Fatalf("round %d: Write = %v, want a timeout", i, err)
					}
				case <-time.After(3 * time.Second):
					t.Fatalf("round %d: Write still blocked 3s after SetWriteDeadline(past)", i)
				}
			}
		})
	}
}

// TestLaterWriteDeadlineKeepsTimeout: SetWriteTimeout's doc: "An
// absolute deadline (SetWriteDeadline) also applies; the earlier wins",
// and for a call already blocked. A Write blocked under a 300 ms write
// timeout must still end by it when another goroutine sets a deadline an
// hour away meanwhile. Under BackendStd SetWriteDeadline set the socket's
// deadline to the hour, and the Write waited for it.
func TestLaterWriteDeadlineKeepsTimeout(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithBackend(be))
			cl.SetReadBuffer(4 << 10)
			c.SetWriteBuffer(4 << 10)
			buf := make([]byte, 64<<10)
			c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			for k := 0; k < 1000; k++ {
				if _, err := c.Write(buf); err != nil {
					break
				}
			}
			c.SetWriteDeadline(time.Time{})
			c.SetWriteTimeout(300 * time.Millisecond)
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := c.Write(buf)
				done <- err
			}()
			time.Sleep(50 * time.Millisecond) // the Write blocks first
			c.SetWriteDeadline(time.Now().Add(time.Hour))
			err := testutil.Receive(t, done, 10*time.Second, "the Write under a 300 ms timeout")
			if d := time.Since(start); d > 2*time.Second || !errors.Is(err, errTimeout) {
				t.Fatalf("Write = %v after %v; want a timeout after about 300 ms", err, d.Round(time.Millisecond))
			}
		})
	}
}
