package netpoll

import (
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestInputWithEOFDuringHandler: while a handler runs, as many bytes as
// it was given arrive, followed by the peer's EOF. The handler must run
// again for them before the connection closes. The runner used to close
// when the buffered length after a run equalled the length before it,
// taken for a handler that made no progress at EOF; with input arriving
// during the run the equal lengths are other bytes, and they were lost.
func TestInputWithEOFDuringHandler(t *testing.T) {
	skipStd(t, "BackendStd reads on the handler's goroutine: no input arrives during a run")
	const n = 1000
	for _, disp := range []Dispatch{DispatchHandoff, DispatchPool, DispatchEach} {
		t.Run(disp.String(), func(t *testing.T) {
			var consumed atomic.Int64
			entered := make(chan struct{})
			proceed := make(chan struct{})
			var runs atomic.Int32
			var conn atomic.Pointer[Conn]
			h := func(c *Conn) error {
				conn.Store(c)
				r := c.Reader()
				k := r.Len()
				if err := r.Skip(k); err != nil {
					return err
				}
				consumed.Add(int64(k))
				if runs.Add(1) == 1 {
					close(entered)
					select { // blocks: the rest arrives meanwhile
					case <-proceed:
					case <-time.After(10 * time.Second):
					}
				}
				return r.Release()
			}
			// Edge-triggered: under one-shot the poller does not read
			// while a run is in progress, which is what this test needs.
			s, addr := startServer(t, h, WithDispatch(disp), WithPollers(1), WithTrigger(EdgeTriggered))
			cl := dialTCP(t, addr)
			defer cl.Close()
			cl.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := cl.Write(make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			testutil.Receive(t, entered, 5*time.Second, "the first handler run")
			if _, err := cl.Write(make([]byte, n)); err != nil {
				t.Fatal(err)
			}
			cl.CloseWrite()
			// The poller reads the second n bytes and the EOF while the
			// first run is still inside the handler (bytes are published
			// before EOF is flagged).
			if !testutil.WaitFor(5*time.Second, func() bool { return conn.Load().flags.Load()&fPeerEOF != 0 }) {
				t.Fatalf("the server saw no EOF; it read %d of %d bytes", s.Stats().BytesIn, 2*n)
			}
			close(proceed)
			if _, err := cl.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("client read %v, want EOF once the server has consumed everything", err)
			}
			if got := consumed.Load(); got != 2*n {
				t.Fatalf("the handler consumed %d of %d bytes before the connection closed (%d runs)", got, 2*n, runs.Load())
			}
		})
	}
}
