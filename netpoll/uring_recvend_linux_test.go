package netpoll

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestUringRecvEndedWithData: when the completion queue is full the
// kernel ends a multishot receive with a last completion that carries
// data but not IORING_CQE_F_MORE. The read of that last piece is short,
// so fill takes the socket for drained, and a connection in receive mode
// has no POLLIN poll: before stashRead armed the receive again, what the
// peer sent after the receive ended stayed in the socket for good.
//
// The only poller is blocked in connection A's handler (inline) while
// connection B, whose receive is armed, gets one byte per segment until
// the CQ (uringCQEntries) overflows; then B sends a tail and A's handler
// returns. Every byte of B must reach its handler.
func TestUringRecvEndedWithData(t *testing.T) {
	needUring(t)
	var block atomic.Bool
	block.Store(true)
	blocked := make(chan struct{})
	unblock := make(chan struct{})
	var got atomic.Int64
	h := func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		if len(b) > 0 && b[0] == 'A' {
			if block.CompareAndSwap(true, false) {
				close(blocked)
				select {
				case <-unblock:
				case <-time.After(20 * time.Second):
				}
			}
			return r.Release()
		}
		got.Add(int64(bytes.Count(b, []byte{'b'})))
		return r.Release()
	}
	s, addr := startServer(t, h, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(1), WithDispatch(DispatchInline))
	u := s.pollers[0].ep.ur
	if !u.br.Incremental() {
		t.Skip("whole buffers run dry (ENOBUFS) before the CQ fills")
	}
	cb := dialTCP(t, addr)
	cb.SetNoDelay(true)
	want := int64(0)
	for range 2 { // the first read switches B to its receive; the second comes by it
		cb.Write([]byte("b"))
		want++
		if !testutil.WaitFor(5*time.Second, func() bool { return got.Load() == want }) {
			t.Fatalf("B: %d of %d bytes", got.Load(), want)
		}
	}
	ca := dialTCP(t, addr)
	ca.Write([]byte("A"))
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("A's handler did not run")
	}
	defer func() {
		select {
		case <-unblock:
		default:
			close(unblock)
		}
	}()
	one := []byte("b")
	for i := 0; i < 3*uringCQEntries && !u.r.Overflowed(); i++ {
		before := u.r.Ready()
		if _, err := cb.Write(one); err != nil {
			t.Fatal(err)
		}
		want++
		for deadline := time.Now().Add(5 * time.Millisecond); u.r.Ready() == before && !u.r.Overflowed() && time.Now().Before(deadline); {
			runtime.Gosched()
		}
	}
	if !u.r.Overflowed() {
		t.Skipf("the CQ did not overflow (%d ready)", u.r.Ready())
	}
	t.Logf("CQ overflowed after %d bytes, %d completions ready", want, u.r.Ready())
	tail := bytes.Repeat([]byte("b"), 1000)
	if _, err := cb.Write(tail); err != nil {
		t.Fatal(err)
	}
	want += int64(len(tail))
	close(unblock)
	if !testutil.WaitFor(5*time.Second, func() bool { return got.Load() == want }) {
		t.Fatalf("B: %d of %d bytes reached the handler; the rest waits in the socket with no receive armed (ended %d)",
			got.Load(), want, u.ended.Load())
	}
}
