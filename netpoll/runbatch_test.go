package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBatchRescuesBlockedRuns makes a handler block while connections
// that became ready in the same poller pass wait behind it in a
// DispatchPool batch. With one claimant task per batch (GOMAXPROCS 1)
// nothing but the rescue can run them: each must still be answered
// within a bound far below the blocked handler's release, and the
// counters must show that batches and rescues really happened.
func TestBatchRescuesBlockedRuns(t *testing.T) {
	skipStd(t, "DispatchPool batches")
	prev := runtime.GOMAXPROCS(1) // read by newPoller: one claimant per batch
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	const rounds, others = 5, 20
	release := make(chan struct{})
	defer close(release)
	handler := func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("B")) {
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		}
		w := c.Writer()
		if _, err := w.WriteBinary(b); err != nil {
			return err
		}
		if err := r.Release(); err != nil {
			return err
		}
		return w.Flush()
	}
	s, addr := startServer(t, handler, WithPollers(1), WithDispatch(DispatchPool))
	dial := func() net.Conn {
		c := dialTCP(t, addr)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		return c
	}
	for round := range rounds {
		blocker := dial()
		xs := make([]net.Conn, others)
		for i := range xs {
			xs[i] = dial()
		}
		// The blocker first: it heads the batch its pass makes, and its
		// claimant blocks with the others unclaimed behind it.
		io.WriteString(blocker, "B")
		for _, x := range xs {
			io.WriteString(x, "x")
		}
		start := time.Now()
		buf := make([]byte, 1)
		for i, x := range xs {
			x.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := io.ReadFull(x, buf); err != nil || buf[0] != 'x' {
				t.Fatalf("round %d: conn %d behind a blocked handler: %q, %v after %v",
					round, i, buf, err, time.Since(start))
			}
		}
		answered := time.Since(start)
		blocker.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := blocker.Read(buf); n != 0 || err == nil {
			t.Fatalf("round %d: the blocked handler answered (%d, %v)", round, n, err)
		}
		t.Logf("round %d: %d conns answered in %v with one handler blocked", round, others,
			answered.Round(time.Microsecond))
	}
	st := s.Stats()
	t.Logf("batches %d, batched runs %d, rescues %d, handler runs %d",
		st.Batches, st.BatchedRuns, st.Rescues, st.HandlerRuns)
	if st.Batches == 0 || st.Rescues == 0 {
		t.Fatalf("no batch was rescued in %d rounds (batches %d, rescues %d): the case under test never arose",
			rounds, st.Batches, st.Rescues)
	}
}

// TestBatchOrderAndCounters pipelines several frames per connection on
// many connections through DispatchPool, each frame its own write, so
// that a connection has input again while its previous run is queued in
// a batch or running. Every connection's frames must come back whole and
// in order (two runs of one connection at once would reorder them), and
// the counters must agree with the traffic.
func TestBatchOrderAndCounters(t *testing.T) {
	skipStd(t, "DispatchPool batches")
	const conns, rounds, frames = 64, 20, 4
	// An echo that yields between taking its input and writing it back:
	// a second run of the same connection, were one let in, would get the
	// next input and could answer first.
	yieldingEcho := func(c *Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		runtime.Gosched()
		if _, err := w.WriteBinary(b); err != nil {
			return err
		}
		if err := r.Release(); err != nil {
			return err
		}
		return w.Flush()
	}
	s, addr := startServer(t, yieldingEcho, WithPollers(1), WithDispatch(DispatchPool))
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dialTCP(t, addr)
		cs[i].SetDeadline(time.Now().Add(30 * time.Second))
	}
	for r := range rounds {
		want := make([]string, conns)
		for f := range frames {
			for i, c := range cs {
				m := msgFor(i, r, f)
				want[i] += m
				if _, err := io.WriteString(c, m); err != nil {
					t.Fatalf("conn %d round %d frame %d: %v", i, r, f, err)
				}
			}
		}
		for i, c := range cs {
			got := make([]byte, len(want[i]))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != want[i] {
				t.Fatalf("conn %d round %d: got %q, %v; want %q", i, r, got, err, want[i])
			}
		}
	}
	st := s.Stats()
	t.Logf("batches %d, batched runs %d (%.1f per batch), handler runs %d, rescues %d",
		st.Batches, st.BatchedRuns, float64(st.BatchedRuns)/max(1, float64(st.Batches)), st.HandlerRuns, st.Rescues)
	switch {
	case st.Batches == 0:
		t.Fatal("no batch was made: the case under test never arose")
	case st.HandlerRuns < conns*rounds:
		// Round r+1 is sent only once round r came back whole, so every
		// connection's handler ran at least once per round.
		t.Fatalf("handler runs %d, want at least %d (conns x rounds)", st.HandlerRuns, conns*rounds)
	case st.BatchedRuns < 2*st.Batches || st.BatchedRuns > st.HandlerRuns:
		t.Fatalf("batched runs %d for %d batches and %d handler runs: want at least 2 per batch "+
			"(a pass with one ready run makes no batch) and no more than ran", st.BatchedRuns, st.Batches, st.HandlerRuns)
	case st.Rescues > st.BatchedRuns:
		t.Fatalf("rescues %d > batched runs %d", st.Rescues, st.BatchedRuns)
	}
}

// msgFor is frame f of connection conn in round round: distinct from its
// neighbours, so that a frame echoed out of place shows.
func msgFor(conn, round, frame int) string {
	return fmt.Sprintf("%c%d.%d%s|", 'a'+conn%26, round, frame, strings.Repeat("-", (conn+round+frame)%7))
}

// TestRescueWaitsForLateTasks checks rescue's rule on a batch whose
// tasks the pool took but the scheduler has not run yet (CI once saw
// every connection of TestPoolSaturation/FailFast refused that way, with
// no handler run: rescued 1 ms after the batch started, its runs found
// the pool full of the batch's own tasks). While a task has not begun,
// rescue claims no run and looks again rescueDelay later; the batch's
// conns are never touched (nil here), so a rescue would panic.
func TestRescueWaitsForLateTasks(t *testing.T) {
	p := &poller{}
	b := &runBatch{conns: make([]*Conn, 4), started: 2, rescueAt: 100}
	p.batches = []*runBatch{b}
	for begun := range int32(2) {
		b.begun.Store(begun)
		now := b.rescueAt + 1
		p.rescue(now, false)
		if len(p.batches) != 1 || b.next.Load() != 0 || p.ctr.rescues.Load() != 0 {
			t.Fatalf("%d of 2 tasks begun: batches kept %d, runs claimed %d, rescues %d; want 1, 0, 0",
				begun, len(p.batches), b.next.Load(), p.ctr.rescues.Load())
		}
		if want := now + int64(rescueDelay); b.rescueAt != want {
			t.Fatalf("%d of 2 tasks begun: next rescue at %d, want %d", begun, b.rescueAt, want)
		}
	}
	// Looked at again later, the first batch may be due after one made
	// since: the wait ends at the earlier.
	later := &runBatch{conns: make([]*Conn, 1), started: 1, rescueAt: b.rescueAt - int64(rescueDelay)/2}
	p.batches = append(p.batches, later)
	now := later.rescueAt - int64(3*time.Millisecond)
	if got, want := p.rescueWait(now), msUntil(later.rescueAt, now); got != want {
		t.Fatalf("rescueWait = %d ms with a later batch due first, want %d", got, want)
	}
}
