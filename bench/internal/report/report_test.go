package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/bench/internal/proc"
)

func steadyRun(round int, ops, cpu float64) Run {
	return Run{Round: round, Verified: true, VerifiedBytes: 1000, Metrics: Metrics{
		OpsPerSec: ops, P50US: 10, P99US: 50, P999US: 90, ServerCPUUSPerOp: cpu, ServerCPUCores: 0.5, LoadCPUCores: 0.6}}
}

// uringRun is a round of upoll-uring-echo: 0.25 calls per message.
func uringRun(round int, cpu float64) Run {
	r := steadyRun(round, 150, cpu)
	r.UpollReadsPerOp, r.UpollWaitsPerOp = 0.05, 0.2
	return r
}

func sample() *Report {
	pp := Case{ID: "pingpong/echo/c1000/s64", Workload: "pingpong", Kind: "echo", Conns: 1000, Size: 64, Baseline: "std-echo",
		Results: []Result{
			{Target: "std-echo", Runs: []Run{steadyRun(0, 100, 10), steadyRun(1, 120, 12), steadyRun(2, 90, 9)}},
			// Run by run, upoll uses 0.5x the CPU of std, whatever the drift.
			{Target: "upoll-echo", Runs: []Run{steadyRun(0, 150, 5), steadyRun(1, 150, 6), steadyRun(2, 150, 4.5)}},
			{Target: "cloudwego-echo", Runs: []Run{steadyRun(0, 140, 4), steadyRun(1, 140, 4.8), steadyRun(2, 140, 3.6)}},
			// upoll on io_uring at 0.65x std, round by round.
			{Target: "upoll-uring-echo", Runs: []Run{uringRun(0, 6.5), uringRun(1, 7.8), uringRun(2, 5.85)}},
			// nbio at 0.4x std: upoll-echo costs 1.25x nbio's.
			{Target: "nbio-echo", Runs: []Run{steadyRun(0, 150, 4), steadyRun(1, 150, 4.8), steadyRun(2, 150, 3.6)}},
			// upoll's handler on BackendStd at 1.05x std.
			{Target: "upoll-std-echo", Runs: []Run{steadyRun(0, 150, 10.5), steadyRun(1, 150, 12.6), steadyRun(2, 150, 9.45)}},
		}}
	http := Case{ID: "http/http/c100", Workload: "http", Kind: "http", Conns: 100, Baseline: "std-http",
		Results: []Result{
			{Target: "std-http", Runs: []Run{steadyRun(0, 1000, 20)}},
			{Target: "upoll-http", Runs: []Run{steadyRun(0, 960, 19)}},
			{Target: "upoll-uring-http", Runs: []Run{steadyRun(0, 912, 19)}},
		}}
	idleRun := func(rss, hs, rssAdded, hsAdded float64) Run {
		return Run{Verified: true, VerifiedBytes: 64, Metrics: Metrics{IdleConns: 1000, RSSPerConn: rss, HeapStackPerConn: hs,
			GoroutinesPerConn: 1, RSSMarginal: rssAdded, HeapStackMarginal: hsAdded}}
	}
	// upoll's average carries fixed costs (450 B); one more conn costs 380.
	idle := Case{ID: "idle/echo/c1000", Workload: "idle", Kind: "echo", Conns: 1000, Baseline: "std-echo",
		Results: []Result{
			{Target: "std-echo", Runs: []Run{idleRun(8000, 7800, 7900, 7700)}},
			{Target: "upoll-echo", Runs: []Run{idleRun(300, 450, 380, 350)}},
		}}
	// upoll's RPC server at 0.6x net's CPU per call, its client at 0.8x,
	// its p99 at 0.9x, round by round.
	rpcRun := func(round int, srv, cli, p99 float64) Run {
		r := steadyRun(round, 100, srv)
		r.LoadCPUUSPerOp, r.P99US, r.Backend = cli, p99, "epoll"
		return r
	}
	rpc := Case{ID: "rpc/rpc/c1000/s64/i8", Workload: "rpc", Kind: "rpc", Conns: 1000, Size: 64, Inflight: 8, Baseline: "std-rpc",
		Results: []Result{
			{Target: "std-rpc", Runs: []Run{steadyRun(0, 100, 10), steadyRun(1, 100, 20), steadyRun(2, 100, 10)}},
			{Target: "upoll-rpc", Runs: []Run{rpcRun(0, 6, 8, 45), rpcRun(1, 12, 16, 45), rpcRun(2, 6, 8, 45)}},
		}}
	for i := range rpc.Results[0].Runs {
		rpc.Results[0].Runs[i].LoadCPUUSPerOp = rpc.Results[0].Runs[i].ServerCPUUSPerOp
	}
	r := &Report{Schema: Schema, Started: time.Unix(1700000000, 0), Finished: time.Unix(1700000100, 0), Suite: "quick",
		Machine: proc.Machine{Cores: 2, GoVersion: "go1.26", CPUModel: "test", Kernel: "6"}, Settings: Settings{Runs: 3, Pin: "off"},
		Targets: []Target{{Name: "std-echo", Kind: "echo", Baseline: true}, {Name: "upoll-echo", Kind: "echo"},
			{Name: "cloudwego-echo", Kind: "echo"}, {Name: "std-http", Kind: "http", Baseline: true}, {Name: "upoll-http", Kind: "http"}},
		Cases: []Case{pp, http, idle, rpc}}
	for i := range r.Cases {
		c := &r.Cases[i]
		base := c.Find(c.Baseline)
		for j := range c.Results {
			c.Results[j].Finish(base)
		}
	}
	r.Goals = Goals(r.Cases)
	return r
}

func TestMedianAndRatiosRunByRun(t *testing.T) {
	if Median([]float64{3, 1, 2}) != 2 || Median([]float64{4, 1, 3, 2}) != 2.5 || Median(nil) != 0 {
		t.Fatal("Median wrong")
	}
	r := sample()
	up := r.Cases[0].Find("upoll-echo")
	if up.Median.ServerCPUUSPerOp != 5 || up.VsBaseline.ServerCPUUSPerOp != 0.5 {
		t.Fatalf("upoll median %v ratio %v", up.Median.ServerCPUUSPerOp, up.VsBaseline.ServerCPUUSPerOp)
	}
	if r.Cases[0].Find("std-echo").VsBaseline != nil {
		t.Fatal("baseline has a ratio to itself")
	}
}

func TestGoals(t *testing.T) {
	want := map[string]struct {
		ratio, value float64
		met          bool
	}{
		"upoll-echo server CPU/msg vs std-echo":         {0.5, 0, true},
		"upoll-echo server CPU/msg vs cloudwego-echo":   {1.25, 0, false},
		"upoll-uring-echo server CPU/msg vs std-echo":   {0.65, 0, false},
		"upoll-http req/s vs std-http @100 conns":       {0.96, 0, true},
		"upoll-echo idle memory per connection (bytes)": {450.0 / 8000, 380, true},
		"upoll-rpc server CPU/call vs std-rpc":          {0.6, 0, true},
		"upoll-rpc client CPU/call vs std-rpc":          {0.8, 0, false},
		"upoll-rpc p99 vs std-rpc":                      {0.9, 0, true},
		// The open issues' rows, for the targets that ran at their counts.
		"upoll-echo server CPU/msg vs nbio-echo @1000 conns":        {1.25, 0, false},
		"upoll-std-echo server CPU/msg vs std-echo @1000 conns":     {1.05, 0, true},
		"upoll-uring-echo server CPU/msg vs upoll-echo @1000 conns": {1.3, 0, false},
		"upoll-uring-echo system calls/msg @1000 conns":             {0, 0.25, true},
		"upoll-uring-http req/s vs upoll-http @100 conns":           {0.95, 0, false},
	}
	gs := sample().Goals
	if len(gs) != len(want) {
		t.Fatalf("%d goals: %+v", len(gs), gs)
	}
	for _, g := range gs {
		w, ok := want[g.Name]
		if !ok {
			t.Fatalf("unexpected goal %q", g.Name)
		}
		if !g.Measured || g.Met != w.met || abs64(g.Ratio-w.ratio) > 1e-9 || abs64(g.Value-w.value) > 1e-9 {
			t.Errorf("%s: got %+v, want %+v", g.Name, g, w)
		}
	}
	// The floors that ran are named beside the CPU goal with their ratio to
	// std, and the goal is "below the floor" only against the cheapest.
	floorRuns := func(name string, cpu float64) Result { // std's CPU is 10, 12, 9
		return Result{Target: name, Runs: []Run{steadyRun(0, 150, cpu), steadyRun(1, 150, cpu*1.2), steadyRun(2, 150, cpu*0.9)}}
	}
	for _, tc := range []struct {
		floors []Result
		want   string
	}{
		{[]Result{floorRuns("floor-echo", 8)}, "floor-echo 0.80× (0.80–0.80): the goal is below the floor here (cheapest: floor-echo)"},
		{[]Result{floorRuns("floor-echo", 6)}, "vs std-echo: floor-echo 0.60× (0.60–0.60)"},
		{[]Result{floorRuns("floor-echo", 8), floorRuns("floor-c", 7)},
			"floor-echo 0.80× (0.80–0.80), floor-c 0.70× (0.70–0.70) (cheapest: floor-c)"},
		{[]Result{floorRuns("floor-echo", 9), floorRuns("floor-c", 8)},
			"floor-echo 0.90× (0.90–0.90), floor-c 0.80× (0.80–0.80): the goal is below the floor here (cheapest: floor-c)"},
		{[]Result{{Target: "floor-c", Runs: []Run{steadyRun(0, 150, 6), steadyRun(1, 150, 12), steadyRun(2, 150, 9)}}},
			"floor-c 1.00× (0.60–1.00): the goal lies within the cheapest floor's spread (floor-c), too close to call"},
	} {
		cs := sample().Cases
		pp := &cs[0]
		for _, f := range tc.floors {
			pp.Results = append(pp.Results, f)
			pp.Results[len(pp.Results)-1].Finish(pp.Find("std-echo"))
		}
		d := Goals(cs)[0].Detail
		if !strings.HasSuffix(d, tc.want) {
			t.Errorf("floors %d: detail %q, want suffix %q", len(tc.floors), d, tc.want)
		}
	}
	if d := sample().Goals[0].Detail; strings.Contains(d, "floor") {
		t.Errorf("no floor target ran, detail mentions one: %q", d)
	}
	// The io_uring goal names the floors too: here the io_uring floor
	// lies below its threshold, so the goal is within reach.
	cs := sample().Cases
	cs[0].Results = append(cs[0].Results, floorRuns("floor-c-uring", 5))
	cs[0].Results[len(cs[0].Results)-1].Finish(cs[0].Find("std-echo"))
	if g := Goals(cs)[2]; g.Name != "upoll-uring-echo server CPU/msg vs std-echo" ||
		!strings.HasSuffix(g.Detail, "vs std-echo: floor-c-uring 0.50× (0.50–0.50)") {
		t.Errorf("io_uring goal with its floor: %+v", g)
	}
	cs = sample().Cases
	cs[0].Results = slices.DeleteFunc(cs[0].Results, func(r Result) bool { return r.Target == "upoll-uring-echo" })
	if g := Goals(cs)[2]; g.Measured || !strings.Contains(g.Detail, "did not run") {
		t.Errorf("io_uring goal without its target: %+v", g)
	}
	// Rounds on both sides of the threshold: 0.60, 0.83, 0.80 against 0.75.
	cs = sample().Cases
	up := cs[0].Find("upoll-echo")
	for i, cpu := range []float64{6, 10, 7.2} {
		up.Runs[i].ServerCPUUSPerOp = cpu
	}
	if g := Goals(cs)[0]; g.Status != StatusWithinNoise || g.Met || g.Lo != 0.6 || abs64(g.Hi-10.0/12) > 1e-9 || g.Rounds != 3 {
		t.Errorf("straddling goal: %+v", g)
	}
	none := Goals(nil)
	for _, g := range none {
		if g.Measured || g.Met || g.Detail == "" || g.Status != StatusNotMeasured {
			t.Errorf("goal without data: %+v", g)
		}
	}
}

// TestMemGoalWithoutMarginal: a report with no marginal figure (written
// before the idle case measured one) is judged on the average.
func TestMemGoalWithoutMarginal(t *testing.T) {
	r := sample()
	idle := &r.Cases[2]
	for i := range idle.Results {
		res := &idle.Results[i]
		for j := range res.Runs {
			res.Runs[j].RSSMarginal, res.Runs[j].HeapStackMarginal = 0, 0
		}
		res.Finish(idle.Find(idle.Baseline))
	}
	g := memGoal(idle)
	if !g.Measured || g.Value != 450 || g.Met || !strings.Contains(g.Detail, "no marginal figure") {
		t.Fatalf("goal %+v; want the average, 450 B, not met", g)
	}
}

func abs64(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

func TestWriteAndCheck(t *testing.T) {
	dir := t.TempDir()
	r := sample()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	if probs := Check(dir); len(probs) != 0 {
		t.Fatalf("sound report fails check: %v", probs)
	}
	md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, s := range []string{"## Goals", "| not met |", "| met |", "upoll-echo", "| 0.50× (0.50–0.50) |", "throughput_pingpong.svg", "memory_per_conn.svg"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	txt := r.Text()
	if !strings.Contains(txt, "GOALS") || !strings.Contains(txt, "echo ping-pong: 1000 conns x 64 B") {
		t.Errorf("text report:\n%s", txt)
	}
	// The JSON field names are an interface for scripts.
	var raw map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"schema", "machine", "settings", "targets", "cases", "goals", "charts"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("report.json lacks %q", k)
		}
	}
	if !strings.Contains(string(b), `"server_cpu_us_per_op"`) || !strings.Contains(string(b), `"ops_per_sec"`) {
		t.Error("report.json lacks metric field names")
	}

	// A failed run, a missing chart, and a missing file are each caught.
	r.Cases[0].Results[1].Runs[0].Verified = false
	r.Cases[0].Results[1].Finish(r.Cases[0].Find("std-echo"))
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	if probs := Check(dir); len(probs) == 0 {
		t.Fatal("unverified run passes check")
	}
	r = sample()
	r.Write(dir)
	os.Remove(filepath.Join(dir, "p99_pingpong.svg"))
	if probs := Check(dir); len(probs) != 1 || !strings.Contains(probs[0], "p99_pingpong.svg") {
		t.Fatalf("missing chart: %v", probs)
	}
	os.WriteFile(filepath.Join(dir, "p99_pingpong.svg"), []byte("<svg><g></svg>"), 0o644)
	if probs := Check(dir); len(probs) != 1 || !strings.Contains(probs[0], "p99_pingpong.svg") {
		t.Fatalf("malformed chart: %v", probs)
	}
	if probs := Check(t.TempDir()); len(probs) == 0 {
		t.Fatal("empty dir passes check")
	}
}

// TestSyscallTable: the kernel's counts show for every target, upoll's
// own for upoll targets; on std their sum is a lower bound and waits n/a;
// the legend names each backend that ran, a new one in generic words.
func TestSyscallTable(t *testing.T) {
	run := func(backend string, rw, reads, writes, waits float64) Run {
		r := steadyRun(0, 100, 10)
		r.Backend, r.ServerRWCallsPerOp, r.LoadRWCallsPerOp = backend, rw, 3
		r.UpollReadsPerOp, r.UpollWritesPerOp, r.UpollWaitsPerOp = reads, writes, waits
		return r
	}
	c := Case{ID: "pingpong/echo/c10/s64", Workload: "pingpong", Kind: "echo", Conns: 10, Size: 64, Baseline: "std-echo",
		Results: []Result{
			{Target: "std-echo", Runs: []Run{run("", 3, 0, 0, 0)}},
			{Target: "upoll-echo", Runs: []Run{run("epoll", 2, 1, 1, 0.5)}},
			{Target: "upoll-std-echo", Runs: []Run{run("std", 3, 1, 1, 0)}},
			{Target: "upoll-uring-echo", Runs: []Run{run("uring", 0.2, 0.1, 0.1, 0.1)}},
			{Target: "upoll-uring-zc", Backend: "uring", Runs: []Run{run("uring", 0.001, 0, 0, 0.14)}},
		}}
	for i := range c.Results {
		c.Results[i].Finish(&c.Results[0])
	}
	var b strings.Builder
	syscallTable([]Case{c}, false).markdown(&b)
	for _, want := range []string{
		"| std-echo | - | 3.00 | - | - | - | - | 3.00 |",
		"| upoll-echo | epoll | 2.00 | 1.00 | 1.00 | 0.50 | 2.50 | 3.00 |",
		"| upoll-std-echo | std | 3.00 | 1.00 | 1.00 | n/a | ≥2.00 | 3.00 |",
		"| upoll-uring-echo | uring | 0.20 | 0.10 | 0.10 | 0.10 | 0.30 | 3.00 |",
		// Input and sends through the ring: no read or write calls,
		// counted as such.
		"| upoll-uring-zc | uring | 0.00 | 0.00 | 0.00 | 0.14 | 0.14 | 3.00 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	legend := strings.Join(syscallLegend([]Case{c}), "\n")
	for _, want := range []string{"  epoll: ", "  std: ", "lower bound", "  uring: the readv calls upoll makes"} {
		if !strings.Contains(legend, want) {
			t.Errorf("legend lacks %q:\n%s", want, legend)
		}
	}
}

// TestUringCallsGoalNamesItsFloor: the system-call goal of io_uring sets
// upoll's count beside the io_uring floor's own count of its enters,
// and says so when the goal lies below the floor or within its spread.
func TestUringCallsGoalNamesItsFloor(t *testing.T) {
	floor := func(waits ...float64) Result {
		f := Result{Target: "floor-c-uring"}
		for i, w := range waits {
			r := steadyRun(i, 150, 5)
			r.UpollWaitsPerOp, r.Backend = w, "c-uring"
			f.Runs = append(f.Runs, r)
		}
		return f
	}
	goal := func(f *Result) Goal {
		cs := sample().Cases
		if f != nil {
			cs[0].Results = append(cs[0].Results, *f)
			cs[0].Results[len(cs[0].Results)-1].Finish(cs[0].Find("std-echo"))
		}
		for _, g := range Goals(cs) {
			if g.Name == "upoll-uring-echo system calls/msg @1000 conns" {
				return g
			}
		}
		t.Fatal("no system-call goal")
		return Goal{}
	}
	if d := goal(nil).Detail; strings.Contains(d, "floor") {
		t.Errorf("no floor ran, detail names one: %q", d)
	}
	for _, tc := range []struct {
		waits []float64
		want  string
	}{
		{[]float64{0.1, 0.12, 0.08}, "; floor: floor-c-uring's own io_uring_enter calls 0.10 (0.08–0.12) per message"},
		{[]float64{0.4, 0.5, 0.35}, "per message: the goal is below the floor here"},
		{[]float64{0.2, 0.35, 0.28}, "per message: the goal lies within the floor's spread, too close to call"},
	} {
		f := floor(tc.waits...)
		g := goal(&f)
		if !strings.HasSuffix(g.Detail, tc.want) || g.Value != 0.25 {
			t.Errorf("floor %v: detail %q (value %v), want suffix %q", tc.waits, g.Detail, g.Value, tc.want)
		}
	}
	// A floor that reported no counts (an older bench's C server) is
	// left out rather than shown as zero calls.
	f := floor(0.1, 0.1, 0.1)
	for i := range f.Runs {
		f.Runs[i].UpollWaitsPerOp, f.Runs[i].Backend = 0, ""
	}
	if d := goal(&f).Detail; strings.Contains(d, "floor") {
		t.Errorf("a floor without counts is named: %q", d)
	}
}
