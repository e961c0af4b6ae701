package report

import (
	"strings"
	"testing"
)

// TestReview12MemGoalSaysWhyNotMeasured: the idle-memory goal of a
// upoll-echo that ran but failed a round says so, as the ratio goals
// do, rather than that it did not run; one that did not run says that.
func TestReview12MemGoalSaysWhyNotMeasured(t *testing.T) {
	r := sample()
	idle := &r.Cases[2]
	up := idle.Find("upoll-echo")
	failed := up.Runs[0]
	failed.Round, failed.Verified, failed.Error = 1, false, "not verified: 1 errors, first: read echo: EOF"
	up.Runs = append(up.Runs, failed)
	up.Finish(idle.Find("std-echo"))
	g := memGoal(idle)
	if g.Status != StatusNotMeasured || g.Measured || !strings.Contains(g.Detail, "failed") || strings.Contains(g.Detail, "did not run") {
		t.Errorf("upoll-echo failed a round of the idle case: %+v; want not measured, the target failed", g)
	}
	idle.Results = idle.Results[:1] // std-echo alone
	if g := memGoal(idle); g.Status != StatusNotMeasured || !strings.Contains(g.Detail, "did not run") {
		t.Errorf("upoll-echo absent from the idle case: %+v; want not measured, did not run", g)
	}
}

// TestReview12RatiosPairRounds: a ratio pairs round i of the target with
// round i of the baseline, whatever the order of the runs, and leaves out
// a round either side failed or did not measure; the median of an even
// count is the mean of the middle two.
func TestReview12RatiosPairRounds(t *testing.T) {
	base := &Result{Target: "std-echo", Runs: []Run{
		steadyRun(0, 100, 10), steadyRun(1, 100, 20), steadyRun(2, 100, 40), steadyRun(3, 100, 0), steadyRun(4, 100, 10)}}
	base.Runs[1].Verified = false // round 1 of the baseline failed
	up := &Result{Target: "upoll-echo", Runs: []Run{
		steadyRun(4, 100, 9), steadyRun(2, 100, 10), steadyRun(3, 100, 5), steadyRun(1, 100, 1), steadyRun(0, 100, 6)}}
	// Rounds 0, 2, 4 pair: 0.6, 0.25, 0.9. Round 1 failed in the baseline,
	// round 3 has no baseline figure. Sorted medians against each other
	// would give 6/10 (or 5.5/10 over all of upoll's rounds).
	if s := RatioSpread(up, base, cpuPerOp); s != (Spread{Median: 0.6, Lo: 0.25, Hi: 0.9, N: 3}) {
		t.Errorf("ratio spread %+v, want median 0.6 of rounds 0, 2, 4 (0.25–0.9)", s)
	}
	up.Runs = up.Runs[1:] // round 4 gone: 0.25, 0.6 left
	if s := RatioSpread(up, base, cpuPerOp); s.N != 2 || abs64(s.Median-0.425) > 1e-12 || s.Lo != 0.25 || s.Hi != 0.6 {
		t.Errorf("ratio spread %+v, want the mean of 0.25 and 0.6", s)
	}
	if s := RatioSpread(up, nil, cpuPerOp); s.N != 0 {
		t.Errorf("ratio against no baseline: %+v", s)
	}
}

// TestReview12GoalsAtTheirThresholds judges each kind of goal through
// Goals with every round at, just inside and just outside its threshold,
// and with rounds on both sides: a round at the threshold meets it.
func TestReview12GoalsAtTheirThresholds(t *testing.T) {
	const eps = 1e-9
	find := func(gs []Goal, name string) Goal {
		for _, g := range gs {
			if g.Name == name {
				return g
			}
		}
		t.Fatalf("no goal %q", name)
		return Goal{}
	}
	for _, tc := range []struct {
		ratios []float64 // per round, target against its reference
		cpu    string    // status of upoll-echo CPU vs std-echo (<= 0.75)
		http   string    // status of upoll-http req/s vs std-http (>= 0.95)
	}{
		{[]float64{0.75, 0.75, 0.75}, StatusMet, StatusNotMet},
		{[]float64{0.75 - eps, 0.75, 0.75 - eps}, StatusMet, StatusNotMet},
		{[]float64{0.75 + eps, 0.75 + eps, 0.75 + eps}, StatusNotMet, StatusNotMet},
		{[]float64{0.75, 0.75 + eps, 0.75}, StatusWithinNoise, StatusNotMet},
		{[]float64{0.95, 0.95, 0.95}, StatusNotMet, StatusMet},
		{[]float64{0.95 - eps, 0.95, 0.95 + eps}, StatusNotMet, StatusWithinNoise},
		{[]float64{0.95 - eps, 0.95 - eps, 0.95 - eps}, StatusNotMet, StatusNotMet},
		{[]float64{0.7, 0.96}, StatusWithinNoise, StatusWithinNoise},
	} {
		var std, up, sh, uh Result
		std.Target, up.Target, sh.Target, uh.Target = "std-echo", "upoll-echo", "std-http", "upoll-http"
		for i, q := range tc.ratios {
			std.Runs = append(std.Runs, steadyRun(i, 1000, 8))
			up.Runs = append(up.Runs, steadyRun(i, 1000, 8*q))
			sh.Runs = append(sh.Runs, steadyRun(i, 1000, 8))
			uh.Runs = append(uh.Runs, steadyRun(i, 1000*q, 8))
		}
		cs := []Case{
			{ID: "pp", Workload: "pingpong", Kind: "echo", Conns: 1000, Size: 64, Baseline: "std-echo", Results: []Result{std, up}},
			{ID: "http", Workload: "http", Kind: "http", Conns: 100, Baseline: "std-http", Results: []Result{sh, uh}},
		}
		for i := range cs {
			for j := range cs[i].Results {
				cs[i].Results[j].Finish(&cs[i].Results[0])
			}
		}
		gs := Goals(cs)
		if g := find(gs, "upoll-echo server CPU/msg vs std-echo"); g.Status != tc.cpu || g.Rounds != len(tc.ratios) {
			t.Errorf("rounds %v: CPU goal %q (%+v), want %q", tc.ratios, g.Status, g, tc.cpu)
		}
		if g := find(gs, "upoll-http req/s vs std-http @100 conns"); g.Status != tc.http {
			t.Errorf("rounds %v: HTTP goal %q (%+v), want %q", tc.ratios, g.Status, g, tc.http)
		}
		if g := find(gs, "upoll-echo server CPU/msg vs cloudwego-echo"); g.Status != StatusNotMeasured || g.Measured ||
			!strings.Contains(g.Detail, "reference target did not run") {
			t.Errorf("cloudwego-echo did not run: %+v", g)
		}
	}
}
