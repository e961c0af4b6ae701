package netpoll

import (
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

var (
	allWaits      = []WaitStrategy{WaitBlock, WaitSpin, WaitRuntime, WaitAdaptive}
	allDispatches = []Dispatch{DispatchHandoff, DispatchPool, DispatchInline, DispatchEach}
	allBalances   = []Balance{RoundRobin, LeastConnections}
)

// TestEchoMatrix runs the echo correctness check across every
// combination of the experiment switches: trigger x wait x dispatch x
// balance.
func TestEchoMatrix(t *testing.T) {
	skipStd(t, "the trigger, wait and dispatch switches")
	conns, msgs := 16, 6
	if testing.Short() {
		conns, msgs = 4, 3
	}
	for _, trig := range allTriggers {
		for _, wait := range allWaits {
			for _, disp := range allDispatches {
				for _, bal := range allBalances {
					name := fmt.Sprintf("%v/%v/%v/%v", trig, wait, disp, bal)
					t.Run(name, func(t *testing.T) {
						s, addr := startServer(t, echoHandler, WithTrigger(trig), WithWait(wait),
							WithDispatch(disp), WithBalance(bal), WithPollers(2), WithSpin(20))
						cfg := s.Config()
						if cfg.Trigger != trig || cfg.Wait != wait || cfg.Dispatch != disp || cfg.Balance != bal {
							t.Fatalf("server runs %+v, asked %s", cfg, name)
						}
						runEchoClients(t, addr, conns, msgs, 64<<10)
					})
				}
			}
		}
	}
}

// TestCountersAddUp checks that the byte and connection counters agree
// with the traffic the test generated, and that PublishExpvar exposes
// the same figures.
func TestCountersAddUp(t *testing.T) {
	skipStd(t, "the counters of the pollset and of one poller per Pollers")
	const conns, rounds, size = 8, 20, 3000
	s, addr := startServer(t, echoHandler, WithPollers(2))
	payload := []byte(strings.Repeat("0123456789", size/10))
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, size)
		for r := range rounds {
			if _, err := c.Write(payload); err != nil {
				t.Fatalf("conn %d round %d: %v", i, r, err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatalf("conn %d round %d: %v", i, r, err)
			}
		}
		c.Close()
	}
	const total = conns * rounds * size
	ok := testutil.WaitFor(5*time.Second, func() bool {
		st := s.Stats()
		return st.LiveConns == 0 && st.BytesIn == total && st.BytesOut == total
	})
	st := s.Stats()
	if !ok {
		t.Fatalf("after %d B echoed on %d conns: BytesIn=%d BytesOut=%d LiveConns=%d",
			total, conns, st.BytesIn, st.BytesOut, st.LiveConns)
	}
	if st.TotalConns != conns {
		t.Errorf("TotalConns = %d, want %d", st.TotalConns, conns)
	}
	writes := st.WriteCalls
	if s.Config().Backend == BackendUring {
		writes += st.Submissions // a handler's Flush is sent by the ring, not by writev
	}
	if st.ReadCalls == 0 || writes == 0 || st.Waits == 0 || st.Events == 0 || st.HandlerRuns == 0 {
		t.Errorf("zero activity counters: %+v", st.PollerStats)
	}
	if len(st.PerPoller) != 2 {
		t.Fatalf("PerPoller has %d entries, want 2", len(st.PerPoller))
	}
	var sumIn, sumConns uint64
	for _, p := range st.PerPoller {
		sumIn += p.BytesIn
		sumConns += p.TotalConns
	}
	if sumIn != st.BytesIn || sumConns != st.TotalConns {
		t.Errorf("per-poller sums %d B / %d conns differ from totals %d / %d", sumIn, sumConns, st.BytesIn, st.TotalConns)
	}
	if st.EventsPerWait() <= 0 || st.MaxEventsPerWait == 0 {
		t.Errorf("events per wait: mean %v max %d", st.EventsPerWait(), st.MaxEventsPerWait)
	}

	// expvar names are process-wide and permanent: make this run's unique
	// so that -count=N does not collide with an earlier run.
	name := fmt.Sprintf("upoll-test-%s-%d", t.Name(), time.Now().UnixNano())
	if err := s.PublishExpvar(name); err != nil {
		t.Fatal(err)
	}
	if err := s.PublishExpvar(name); err == nil {
		t.Error("publishing the same name twice succeeded")
	}
	var got Stats
	if err := json.Unmarshal([]byte(expvar.Get(name).String()), &got); err != nil {
		t.Fatalf("expvar JSON: %v", err)
	}
	if got.BytesIn != total || got.TotalConns != conns {
		t.Errorf("expvar shows BytesIn=%d TotalConns=%d, want %d and %d", got.BytesIn, got.TotalConns, total, conns)
	}
}

// TestWaitsCountSyscalls checks that Waits counts epoll_wait
// syscalls, not waits: with WaitRuntime every park follows an empty
// epoll_wait(0) and is followed by the one that finds the event, so an
// exchange at a time must show at least two calls per park.
func TestWaitsCountSyscalls(t *testing.T) {
	skipStd(t, "epoll_wait counting")
	skipUring(t, "a park follows no empty poll: the completion queue is looked at in memory")
	s, addr := startServer(t, echoHandler, WithPollers(1), WithWait(WaitRuntime))
	c := dialTCP(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	for range 20 {
		io.WriteString(c, "ping")
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // let the poller park
	}
	st := s.Stats()
	t.Logf("epoll_wait calls %d, parks %d, events %d", st.Waits, st.Parks, st.Events)
	if st.Parks == 0 || st.Waits < 2*st.Parks {
		t.Fatalf("Waits %d for %d parks: want at least two syscalls per park", st.Waits, st.Parks)
	}
}
