package netpoll

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/internal/testutil"
)

// A writer that Malloc'ed, then kept none of it (MallocAck(0): a read
// into the space found nothing), while another goroutine closed the
// connection, ends its batch with Flush, which fails: the empty node of
// that batch must go back to the pool too. Before the fix the Flush
// freed a closed connection's batch only when it held bytes, and each
// round left a node behind for good (buffer.LiveNodes grew by one).
func TestEmptyBatchFreedAfterConcurrentClose(t *testing.T) {
	prev := buffer.SetNodeAccounting(true)
	t.Cleanup(func() { buffer.SetNodeAccounting(prev) })
	const rounds = 20
	type pair struct {
		c  *Conn
		cl *net.TCPConn
	}
	var pairs []pair
	for range rounds {
		c, cl := acceptPair(t)
		pairs = append(pairs, pair{c, cl})
	}
	time.Sleep(100 * time.Millisecond) // the setup's nodes settle
	base := buffer.LiveNodes()
	for i, pr := range pairs {
		w := pr.c.Writer()
		if _, err := w.Malloc(4096); err != nil {
			t.Fatal(err)
		}
		if err := w.MallocAck(0); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { pr.c.Close(); close(done) }()
		<-done
		if err := w.Flush(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("round %d: Flush after Close = %v, want net.ErrClosed", i, err)
		}
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return buffer.LiveNodes() <= base }) {
		t.Fatalf("buffer.LiveNodes = %d after %d rounds, was %d: the empty batches of closed connections were never freed", buffer.LiveNodes(), rounds, base)
	}
}

// A connection's reader holds a Next slice of a node that a Slice of
// the same input shares; the Slice's owner, on its goroutine, reads it
// and closes it while another goroutine closes the connection. Both
// abandon their reference to the node they hold slices of, and must not
// write its fields without synchronization: go test -race reported the
// two writes in abandonNode.
func TestSliceAndConnCloseConcurrently(t *testing.T) {
	for i := range 10 {
		c, cl := acceptPair(t)
		if _, err := cl.Write(bytes.Repeat([]byte("A"), 128)); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		s, err := c.Reader().Slice(64)
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Reader().Next(32)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if q, err := s.Next(32); err != nil || !bytes.Equal(q, bytes.Repeat([]byte("A"), 32)) {
				t.Errorf("round %d: Slice's Next = %q, %v", i, q, err)
			}
			s.Close()
		}()
		go func() { defer wg.Done(); c.Close() }()
		wg.Wait()
		if !bytes.Equal(p, bytes.Repeat([]byte("A"), 32)) {
			t.Fatalf("round %d: the reader's slice reads %q after the closes", i, p)
		}
	}
}
