package report

import (
	"strings"
	"testing"
)

// A sweep whose verified results have no server CPU figure (the server's
// pid could not be sampled) still names its fastest options, and says
// that the cheapest could not be told, rather than dereferencing nil.
func TestFix30SweepWinnersWithoutServerCPU(t *testing.T) {
	run := steadyRun(0, 100, 0)
	c := Case{ID: "pingpong/echo/c10/s64", Workload: "pingpong", Kind: "echo", Conns: 10, Size: 64,
		Results: []Result{{Target: "upoll-echo", Options: "dispatch=inline", Runs: []Run{run}}}}
	c.Results[0].Finish(nil)
	if !c.Results[0].Verified || c.Results[0].Median.ServerCPUUSPerOp != 0 {
		t.Fatalf("setup: verified %v, server CPU %v", c.Results[0].Verified, c.Results[0].Median.ServerCPUUSPerOp)
	}
	var got []string
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("SweepWinners panicked: %v", p)
			}
		}()
		got = SweepWinners([]Case{c})
	}()
	if len(got) != 1 || !strings.Contains(got[0], "fastest dispatch=inline") || !strings.Contains(got[0], "not measured") {
		t.Fatalf("SweepWinners = %q, want the fastest options and server CPU not measured", got)
	}
}

// A round exactly at the threshold meets the goal ("<=" or ">=" it), so
// rounds that all meet it, one of them exactly, are not "within noise";
// rounds on both sides still are.
func TestFix30StraddlesTieCountsAsMet(t *testing.T) {
	for _, tc := range []struct {
		op     string
		s      Spread
		status string
	}{
		{"<=", Spread{Median: 0.72, Lo: 0.70, Hi: 0.75, N: 3}, StatusMet},
		{"<=", Spread{Median: 0.78, Lo: 0.75, Hi: 0.80, N: 3}, StatusWithinNoise},
		{"<=", Spread{Median: 0.74, Lo: 0.70, Hi: 0.80, N: 3}, StatusWithinNoise},
		{"<=", Spread{Median: 0.78, Lo: 0.76, Hi: 0.80, N: 3}, StatusNotMet},
		{">=", Spread{Median: 0.97, Lo: 0.95, Hi: 1.00, N: 3}, StatusMet},
		{">=", Spread{Median: 0.93, Lo: 0.90, Hi: 0.95, N: 3}, StatusWithinNoise},
		{">=", Spread{Median: 0.92, Lo: 0.90, Hi: 0.94, N: 3}, StatusNotMet},
	} {
		g := Goal{Name: "x vs y", Op: tc.op, Threshold: 0.75}
		if tc.op == ">=" {
			g.Threshold = 0.95
		}
		g.setSpread(tc.s)
		if g.Status != tc.status {
			t.Errorf("%s %.2f with rounds %.2f–%.2f (median %.2f): status %q, want %q",
				tc.op, g.Threshold, tc.s.Lo, tc.s.Hi, tc.s.Median, g.Status, tc.status)
		}
	}
}

// Under io_uring a round can make no read or write call at all: its
// zero is a reading, and the medians take it. The table's "upoll
// calls/op" is the median of the per-round sums, as the io_uring
// system-calls goal takes it, not the sum of the three medians.
func TestFix30UpollCountersZeroIsAReading(t *testing.T) {
	round := func(n int, reads, writes, waits float64) Run {
		r := steadyRun(n, 150, 5)
		r.Backend = "uring"
		r.UpollReadsPerOp, r.UpollWritesPerOp, r.UpollWaitsPerOp = reads, writes, waits
		return r
	}
	c := Case{ID: "pingpong/echo/c1000/s64", Workload: "pingpong", Kind: "echo", Conns: 1000, Size: 64, Baseline: "std-echo",
		Results: []Result{
			{Target: "std-echo", Runs: []Run{steadyRun(0, 100, 10), steadyRun(1, 100, 10), steadyRun(2, 100, 10)}},
			{Target: "upoll-uring-echo", Runs: []Run{round(0, 0.3, 0, 0.1), round(1, 0, 0.3, 0.1), round(2, 0, 0, 1.0)}},
		}}
	for i := range c.Results {
		c.Results[i].Finish(&c.Results[0])
	}
	m := c.Results[1].Median
	if m.UpollReadsPerOp != 0 || m.UpollWritesPerOp != 0 || m.UpollWaitsPerOp != 0.1 {
		t.Errorf("medians reads/writes/waits per op = %.2f/%.2f/%.2f, want 0.00/0.00/0.10 (two rounds of three read 0 of each)",
			m.UpollReadsPerOp, m.UpollWritesPerOp, m.UpollWaitsPerOp)
	}
	tab := syscallTable([]Case{c}, false)
	var total string
	for _, row := range tab.rows {
		if row[1] == "upoll-uring-echo" {
			total = row[7]
		}
	}
	var goal *Goal
	gs := Goals([]Case{c})
	for i := range gs {
		if strings.HasPrefix(gs[i].Name, "upoll-uring-echo system calls/msg") {
			goal = &gs[i]
		}
	}
	if goal == nil || !goal.Measured {
		t.Fatalf("the io_uring system-calls goal was not measured: %+v", goal)
	}
	if total != "0.40" || goal.Value != 0.4 {
		t.Errorf("upoll calls/op in the table %q, in the goal %.2f; want both 0.40, the median of the rounds' sums 0.40, 0.40, 1.00", total, goal.Value)
	}
}
