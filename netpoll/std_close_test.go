package netpoll

import (
	"errors"
	"net"
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
