package reliability

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// soakDuration returns how long the soak runs, or 0 when it is off.
// It is on with -tags soak or UPOLL_SOAK=1; UPOLL_SOAK_DURATION sets the
// length (default 10m).
func soakDuration(t *testing.T) time.Duration {
	if !soakTagged && os.Getenv("UPOLL_SOAK") != "1" {
		return 0
	}
	d := 10 * time.Minute
	if s := os.Getenv("UPOLL_SOAK_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d <= 0 {
			t.Fatalf("UPOLL_SOAK_DURATION=%q: %v", s, err)
		}
	}
	return d
}

// soakSample is one row of the soak table.
type soakSample struct {
	at                 time.Duration
	rssKiB, heapKiB    int64
	goroutines, fds    int
	echoLive, httpOpen int64
	ops                int64
}

// rssKiB reads VmRSS of this process.
func rssKiB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// TestSoak runs mixed echo and HTTP load with connection churn (each
// client connection does 1-50 exchanges, then closes, one in four with
// RST) for the soak duration, samples RSS, heap, goroutines, fds and
// live connections 30 times, prints them as a table, and fails if the
// last third of the samples grew beyond tolerance over the first third.
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	if dur == 0 {
		t.Skip("soak is opt-in: -tags soak or UPOLL_SOAK=1 (UPOLL_SOAK_DURATION, default 10m)")
	}
	checkLeaks(t)
	// Count disconnects instead of recording each reason: the recorder's
	// slice grows with every connection (about 1 MB a minute here), which
	// this test would otherwise measure as upoll's.
	var disconnected atomic.Int64
	n := startNative(t, echoHandler, netpoll.WithOnDisconnect(func(*netpoll.Conn, error) { disconnected.Add(1) }))
	e := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, strings.Repeat("y", 1+rand.IntN(16<<10)))
	}), nil)
	var ops, errs atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	worker := func(id int, session func(rng *rand.Rand) error) {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(uint64(id), 11))
		for i := 0; i < 1<<30; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := session(rng); err != nil {
				if errs.Add(1) <= 5 {
					t.Errorf("worker %d: %v", id, err)
				}
			}
		}
	}
	echoSession := func(rng *rand.Rand) error {
		c, err := net.DialTimeout("tcp", n.addr, 10*time.Second)
		if err != nil {
			return err
		}
		tc := c.(*net.TCPConn)
		defer func() {
			if rng.IntN(4) == 0 {
				tc.SetLinger(0)
			}
			tc.Close()
		}()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		for range 1 + rng.IntN(50) {
			msg := pattern[:1+rng.IntN(32<<10)]
			if _, err := c.Write(msg); err != nil {
				return err
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				return err
			}
			if string(got) != string(msg) {
				return fmt.Errorf("echo differs")
			}
			ops.Add(1)
		}
		return nil
	}
	httpSession := func(rng *rand.Rand) error {
		c, err := net.DialTimeout("tcp", e.addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		for range 1 + rng.IntN(50) {
			body := rng.IntN(8 << 10)
			if _, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", body, pattern[:body]); err != nil {
				return err
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			ops.Add(1)
		}
		return nil
	}
	for i := range 16 {
		wg.Add(2)
		go worker(i, echoSession)
		go worker(100+i, httpSession)
	}
	const rows = 30
	var samples []soakSample
	start := time.Now()
	for i := range rows {
		time.Sleep(time.Until(start.Add(dur * time.Duration(i+1) / rows)))
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		samples = append(samples, soakSample{
			at: time.Since(start), rssKiB: rssKiB(), heapKiB: int64(ms.HeapAlloc >> 10),
			goroutines: runtime.NumGoroutine(), fds: testutil.FDs(t),
			echoLive: n.live(), httpOpen: int64(e.open()), ops: ops.Load(),
		})
	}
	close(stop)
	testutil.WaitGroup(t, &wg, time.Minute, "the load goroutines")
	var tb strings.Builder
	fmt.Fprintf(&tb, "\n%8s %9s %9s %10s %6s %9s %9s %10s\n", "time", "rss KiB", "heap KiB", "goroutines", "fds", "echo live", "http open", "ops")
	for _, s := range samples {
		fmt.Fprintf(&tb, "%8v %9d %9d %10d %6d %9d %9d %10d\n", s.at.Round(time.Second), s.rssKiB, s.heapKiB,
			s.goroutines, s.fds, s.echoLive, s.httpOpen, s.ops)
	}
	t.Log(tb.String())
	third := rows / 3
	mean := func(from, to int, f func(soakSample) int64) float64 {
		var sum int64
		for _, s := range samples[from:to] {
			sum += f(s)
		}
		return float64(sum) / float64(to-from)
	}
	checks := []struct {
		name  string
		f     func(soakSample) int64
		ratio float64 // allowed growth factor
		slack float64 // plus this much absolute
	}{
		{"RSS KiB", func(s soakSample) int64 { return s.rssKiB }, 1.25, 8 << 10},
		{"goroutines", func(s soakSample) int64 { return int64(s.goroutines) }, 1.25, 20},
		{"fds", func(s soakSample) int64 { return int64(s.fds) }, 1.25, 20},
	}
	for _, c := range checks {
		first, last := mean(0, third, c.f), mean(rows-third, rows, c.f)
		t.Logf("%s: first third mean %.0f, last third mean %.0f", c.name, first, last)
		if last > first*c.ratio+c.slack {
			t.Errorf("%s grew from %.0f to %.0f over the soak", c.name, first, last)
		}
	}
	if ops.Load() == 0 {
		t.Error("no operation completed")
	}
	t.Logf("%d exchanges in %v, %d errors, %d native disconnects", ops.Load(), dur, errs.Load(), disconnected.Load())
}
