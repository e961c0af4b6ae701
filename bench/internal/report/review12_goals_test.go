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
