package netpoll

import (
	"bytes"
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

// TestBatchOrderAndCounters pipelines many frames on many connections
// through DispatchPool and checks that every connection's bytes come
// back in order, that batches were used, and that the counters agree.
func TestBatchOrderAndCounters(t *testing.T) {
	const conns, rounds = 64, 40
	s, addr := startServer(t, echoHandler, WithPollers(1), WithDispatch(DispatchPool))
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dialTCP(t, addr)
		cs[i].SetDeadline(time.Now().Add(30 * time.Second))
	}
	for r := range rounds {
		for i, c := range cs {
			io.WriteString(c, msgFor(i, r))
		}
		for i, c := range cs {
			want := msgFor(i, r)
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
				t.Fatalf("conn %d round %d: got %q, %v; want %q", i, r, got, err, want)
			}
		}
	}
	st := s.Stats()
	t.Logf("batches %d, batched runs %d (%.1f per batch), handler runs %d, rescues %d",
		st.Batches, st.BatchedRuns, float64(st.BatchedRuns)/max(1, float64(st.Batches)), st.HandlerRuns, st.Rescues)
	if st.Batches == 0 || st.BatchedRuns < 2*st.Batches || st.BatchedRuns > st.HandlerRuns {
		t.Fatalf("batches %d, batched runs %d, handler runs %d: want batches of 2 or more runs, no more runs than handler calls",
			st.Batches, st.BatchedRuns, st.HandlerRuns)
	}
}

func msgFor(conn, round int) string {
	return strings.Repeat(string(rune('a'+conn%26)), 1+(conn+round)%7) + "|"
}
