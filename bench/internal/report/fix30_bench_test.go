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
