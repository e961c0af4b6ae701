package report

import (
	"strings"
	"testing"
)

// TestOtherMedianKeepsZeros: "other" (CPU the rest of the machine used)
// is clamped at 0 per run, so 0 is a real measurement; the median over
// three rounds 0, 0, 0.6 is 0, not 0.6.
func TestOtherMedianKeepsZeros(t *testing.T) {
	runs := []Run{steadyRun(0, 100, 10), steadyRun(1, 100, 10), steadyRun(2, 100, 10)}
	runs[2].OtherCPUCores = 0.6 // one noisy round; the other two quiet (0)
	r := &Result{Target: "std-echo", Runs: runs}
	r.Finish(nil)
	c := Case{ID: "x", Workload: "pingpong", Kind: "echo", Conns: 10, Size: 64, Baseline: "std-echo", Results: []Result{*r}}
	var b strings.Builder
	c.table(false, false).markdown(&b)
	t.Logf("table:\n%s", b.String())
	t.Logf("median over all three rounds: %.2f", Median([]float64{0, 0, 0.6}))
	if got := r.Median.OtherCPUCores; got != 0 {
		t.Fatalf("median other = %.2f cores over rounds {0, 0, 0.6}; want 0", got)
	}
}
