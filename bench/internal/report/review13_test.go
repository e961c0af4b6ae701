package report

import (
	"strings"
	"testing"
)

// goalRow renders the goal table of cases and returns the row of the
// goal whose name starts with prefix.
func goalRow(t *testing.T, cases []Case, prefix string) []string {
	t.Helper()
	for _, row := range goalTable(Goals(cases), false).rows {
		if strings.HasPrefix(row[0], prefix) {
			return row
		}
	}
	t.Fatalf("no goal row %q", prefix)
	return nil
}

// echoCase is a 64 B ping-pong case at conns with std-echo and target,
// whose rounds cost cpus[i] against std's 10.
func echoCase(conns int, target string, cpus ...float64) Case {
	c := Case{ID: "pingpong/echo", Workload: "pingpong", Kind: "echo", Conns: conns, Size: 64, Baseline: "std-echo",
		Results: []Result{{Target: "std-echo"}, {Target: target}}}
	for i, cpu := range cpus {
		c.Results[0].Runs = append(c.Results[0].Runs, steadyRun(i, 100, 10))
		c.Results[1].Runs = append(c.Results[1].Runs, steadyRun(i, 100, cpu))
	}
	for i := range c.Results {
		c.Results[i].Finish(&c.Results[0])
	}
	return c
}

// A median that rounds to its threshold at two decimals gets the
// decimals that show which side it is on: 1.1004× beside "not met" for
// "<= 1.10×", not 1.10×. One exactly at the threshold keeps two.
func TestReview13GoalMedianNotPrintedAsThreshold(t *testing.T) {
	for _, tc := range []struct {
		cpus         []float64
		meas, status string
	}{
		{[]float64{11.004, 11.004, 11.004}, "1.1004× (1.10–1.10)", StatusNotMet},
		{[]float64{10.996, 10.996, 10.996}, "1.0996× (1.10–1.10)", StatusMet},
		{[]float64{11.03, 11.03, 11.03}, "1.103× (1.10–1.10)", StatusNotMet},
		{[]float64{11, 11, 11}, "1.10× (1.10–1.10)", StatusMet},
		{[]float64{12, 12, 12}, "1.20× (1.20–1.20)", StatusNotMet},
	} {
		row := goalRow(t, []Case{echoCase(100, "upoll-std-echo", tc.cpus...)}, "upoll-std-echo server CPU/msg vs std-echo @100")
		if row[1] != tc.meas || row[3] != tc.status {
			t.Errorf("rounds %v: measured %q, status %q; want %q, %q", tc.cpus, row[1], row[3], tc.meas, tc.status)
		}
	}
	if got := goalPrec(0.3004, 0.3); got != 4 {
		t.Errorf("goalPrec(0.3004, 0.3) = %d, want 4", got)
	}
}

// A goal taken from one round says so, not "median of 1 per-round
// ratios".
func TestReview13OneRoundWording(t *testing.T) {
	row := goalRow(t, []Case{echoCase(100, "upoll-std-echo", 10.5)}, "upoll-std-echo server CPU/msg vs std-echo @100")
	if !strings.Contains(row[4], "; one round") || strings.Contains(row[4], "median of 1") {
		t.Errorf("detail %q; want \"one round\"", row[4])
	}
	row = goalRow(t, []Case{echoCase(100, "upoll-std-echo", 10.5, 10.6, 10.7)}, "upoll-std-echo server CPU/msg vs std-echo @100")
	if !strings.Contains(row[4], "median of 3 per-round ratios") {
		t.Errorf("detail %q; want the median of 3", row[4])
	}
}

// A server that reads and writes through io_uring makes no read or
// write call: where the kernel's counts were read, its zero is shown
// as 0.00 and taken by the median; where they were not (a report from
// before the flag), "-".
func TestReview13KernelRWZeroIsACount(t *testing.T) {
	c := echoCase(100, "floor-c-uring", 6, 6, 6)
	res := &c.Results[1]
	for i := range res.Runs {
		res.Runs[i].Backend = "c-uring"
		res.Runs[i].UpollWaitsPerOp = 0.5
		res.Runs[i].ServerRWCounted, res.Runs[i].LoadRWCounted = true, true
		res.Runs[i].LoadRWCallsPerOp = 2
	}
	// One round's count is above zero: the median of 0, 0, 0.3 is 0.
	res.Runs[2].ServerRWCallsPerOp = 0.3
	res.Finish(&c.Results[0])
	if m := res.Median.ServerRWCallsPerOp; m != 0 {
		t.Fatalf("median server r/w calls %v, want 0 (rounds 0, 0, 0.3)", m)
	}
	cell := func(c Case) string {
		for _, row := range syscallTable([]Case{c}, false).rows {
			if row[1] == "floor-c-uring" {
				return row[3]
			}
		}
		t.Fatal("no floor-c-uring row")
		return ""
	}
	if got := cell(c); got != "0.00" {
		t.Errorf("counted zero shown as %q, want 0.00", got)
	}
	for i := range res.Runs {
		res.Runs[i].ServerRWCounted = false
		res.Runs[i].ServerRWCallsPerOp = 0
	}
	res.Finish(&c.Results[0])
	if got := cell(c); got != "-" {
		t.Errorf("uncounted zero shown as %q, want -", got)
	}
}
