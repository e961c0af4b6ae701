package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestLoadStopsWhenServerGone: a load run whose server answers a few
// calls and then closes every connection stops calling once no
// connection of its pool is open, and reports the calls made, not -n
// calls that nothing was sent for. Before, its workers went through
// all of -n, each call failing at once with ErrConnClosed, and the
// summary counted them as calls (calls 1000000, errors 999990, a
// calls/s and latencies of calls never sent).
func TestLoadStopsWhenServerGone(t *testing.T) {
	const n, answered = 1_000_000, 20
	fds, gs := countFDs(t), goroutines()
	t.Cleanup(func() { checkNoLeaks(t, fds, gs) })
	addr := rawServer(t, func(_ int, c net.Conn) {
		for range answered / 2 { // each of the 2 connections
			id, _, err := readRequest(c)
			if err != nil {
				return
			}
			c.Write(response(IDLen, id, "")) // size 0: every answer is empty
		}
	})
	var out bytes.Buffer
	start := time.Now()
	err := runLoad(&out, addr, loadConfig{clients: 2, inflight: 2, n: n, size: 0, max: DefaultMaxFrame, timeout: 5 * time.Second})
	took := time.Since(start)
	t.Logf("%v: %s; %v", took, strings.TrimSpace(out.String()), err)
	if !errors.Is(err, ErrConnClosed) {
		t.Fatalf("runLoad = %v, want an error wrapping ErrConnClosed", err)
	}
	var calls int
	if _, err := fmt.Sscanf(out.String(), "calls %d", &calls); err != nil {
		t.Fatalf("summary %q: %v", out.String(), err)
	}
	if calls > 1000 {
		t.Fatalf("%d calls reported of %d, the server gone after %d answers: the load went on without a connection", calls, n, answered)
	}
}
