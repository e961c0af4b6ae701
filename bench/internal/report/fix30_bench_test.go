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
