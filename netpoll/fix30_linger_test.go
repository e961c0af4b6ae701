package netpoll

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// A writer builds a batch while its connection lingers (Close came with
// output queued that the peer has not taken yet); its Flush fails with
// net.ErrClosed, so its bytes must never reach the peer: a caller told
// the Flush failed may send them again elsewhere. The failed Flush
// ended the batch by publishing it into the lingering connection's
// output, and the linger sent it after the rest.
func TestFailedFlushDuringLingerSendsNothing(t *testing.T) {
	const queued = 4 << 20
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithBackend(be), WithMaxOutput(2*queued))
			cl.SetReadBuffer(64 << 10)
			w := c.Writer()
			if _, err := w.WriteBinary(bytes.Repeat([]byte("a"), queued)); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err) // within MaxOutput: the rest is queued
			}
			p, err := w.Malloc(16)
			if err != nil {
				t.Fatal(err)
			}
			copy(p, "ZZZZZZZZZZZZZZZZ")
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Flush after Close = %v, want net.ErrClosed", err)
			}
			cl.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(cl)
			if err != nil {
				t.Fatalf("peer read %d bytes, then %v", len(got), err)
			}
			if i := bytes.IndexByte(got, 'Z'); i >= 0 {
				t.Fatalf("peer got %d bytes, the failed Flush's batch at %d: %q", len(got), i, got[i:])
			}
			if len(got) != queued {
				t.Fatalf("peer got %d bytes, want the %d flushed before Close", len(got), queued)
			}
		})
	}
}
