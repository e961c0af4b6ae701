package server

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/bench/internal/load"
)

// TestTargetsServeVerified starts every target in this process and drives
// it briefly with the load generator: every echoed byte and HTTP body must
// verify. Every target compiled into this build must be available here (none
// depends on the kernel or on privileges yet; floor-c needs a C compiler,
// which .ci/run installs where there is none): a target that says it is not
// fails, rather than being skipped, so that the test cannot pass by running
// nothing.
func TestTargetsServeVerified(t *testing.T) {
	for _, tg := range Targets() {
		t.Run(tg.Name, func(t *testing.T) {
			if err := tg.Available(); err != nil {
				t.Fatalf("target %s not available: %v", tg.Name, err)
			}
			addr, err := tg.start("127.0.0.1:0", "")
			if err != nil {
				t.Fatal(err)
			}
			ran := 0
			for _, w := range []string{load.PingPong, load.Pipeline, load.HTTP, load.RPC} {
				want := map[Kind][]string{Echo: {load.PingPong, load.Pipeline}, HTTP: {load.HTTP}, RPC: {load.RPC}}[tg.Kind]
				if !slices.Contains(want, w) {
					continue
				}
				ran++
				var out strings.Builder
				cfg := load.Config{Workload: w, Addr: addr.String(), Conns: 3, Size: 100, Pipeline: 4,
					Duration: 100 * time.Millisecond, Proto: string(tg.Kind), Client: tg.Client, Inflight: 2}
				if err := load.Run(cfg, strings.NewReader(""), &out); err != nil {
					t.Fatal(err)
				}
				var res load.Result
				if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(out.String()), "RESULT ")), &res); err != nil {
					t.Fatal(err)
				}
				if !res.Verified || res.Ops == 0 {
					t.Fatalf("%s: %+v", w, res)
				}
			}
			if ran == 0 {
				t.Fatalf("no workload drives a target of kind %s", tg.Kind)
			}
			if x, ok := addr.(upollAddr); ok != (tg.Backend != "") {
				t.Fatalf("backend %q, but counters: %v", tg.Backend, ok)
			} else if ok {
				c := x.counters()
				// Under uring, input comes by multishot receives and a
				// handler's output by sends through the ring: few or no
				// readv and writev calls, but handler runs; io_uring_enter
				// calls (Waits) too, except with a submission thread
				// (SQPOLL), which may leave the loop none to make. The
				// http target has no handler: its request goroutines
				// write their responses with writev.
				io := c.Reads > 0 && c.Writes > 0
				switch {
				case tg.Backend != "uring":
				case tg.Kind == "http":
					io = c.Writes > 0
				case strings.HasSuffix(tg.Name, "-sqpoll"):
					io = c.HandlerRuns > 0
				default:
					io = c.Waits > 0 && c.HandlerRuns > 0
				}
				if c.Backend != tg.Backend || !io {
					t.Fatalf("counters %+v, want backend %s and its calls counted", c, tg.Backend)
				}
			}
		})
	}
}

func TestRunProtocol(t *testing.T) {
	in := strings.NewReader("mem\nbogus\nquit\n")
	var out strings.Builder
	if err := Run("std-echo", "127.0.0.1:0", "", "", in, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "READY ") || !strings.HasPrefix(lines[1], "MEM {") || !strings.HasPrefix(lines[2], "ERR ") {
		t.Fatalf("protocol lines %q", lines)
	}
	var m Mem
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "MEM ")), &m); err != nil || m.HeapInuse == 0 || m.Goroutines == 0 {
		t.Fatalf("mem %+v, %v", m, err)
	}
	if err := Run("nginx", "127.0.0.1:0", "", "", in, &out); err == nil {
		t.Fatal("unknown target accepted")
	}
	if err := Run("std-echo", "127.0.0.1:0", "pollers=2", "", in, &out); err == nil {
		t.Fatal("-opts accepted by a target that has none")
	}
}

// TestRunStatsCommand: "stats" answers a upoll target's counters with the
// backend it runs on, and all zero for a target that is not upoll.
func TestRunStatsCommand(t *testing.T) {
	for name, backend := range map[string]string{"upoll-echo": "epoll", "upoll-std-echo": "std", "std-echo": ""} {
		var out strings.Builder
		if err := Run(name, "127.0.0.1:0", "", "", strings.NewReader("stats\nquit\n"), &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var c Counters
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "STATS ") {
			t.Fatalf("%s: protocol lines %q", name, lines)
		}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "STATS ")), &c); err != nil || c.Backend != backend {
			t.Fatalf("%s: counters %+v (%v), want backend %q", name, c, err, backend)
		}
	}
}
