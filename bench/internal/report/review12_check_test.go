package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReview12CheckCatchesTamperedReport: -check re-derives what
// report.json states from its own runs. A goal whose verdict, a result
// whose median or ratio, or a run whose figures were changed after the
// report was written, and a report.md whose goals disagree with
// report.json, each fail the check; the report as written passes.
func TestReview12CheckCatchesTamperedReport(t *testing.T) {
	write := func(t *testing.T, edit func(r *Report)) string {
		dir := t.TempDir()
		if err := sample().Write(dir); err != nil {
			t.Fatal(err)
		}
		if edit == nil {
			return dir
		}
		r, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		edit(r)
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	goal := func(r *Report, name string) *Goal {
		for i := range r.Goals {
			if r.Goals[i].Name == name {
				return &r.Goals[i]
			}
		}
		t.Fatalf("no goal %q", name)
		return nil
	}
	if probs := Check(write(t, nil)); len(probs) != 0 {
		t.Fatalf("the report as written fails its check: %v", probs)
	}
	for _, tc := range []struct {
		name string
		edit func(r *Report)
		want string
	}{
		{"goal status", func(r *Report) {
			g := goal(r, "upoll-echo server CPU/msg vs cloudwego-echo") // 1.25 against <= 1.0
			g.Met, g.Status = true, StatusMet
		}, "upoll-echo server CPU/msg vs cloudwego-echo"},
		{"goal ratio", func(r *Report) {
			goal(r, "upoll-echo server CPU/msg vs std-echo").Ratio = 0.4
		}, "upoll-echo server CPU/msg vs std-echo"},
		{"run figure", func(r *Report) {
			// upoll-echo's first round at 2x its CPU: the stored medians,
			// ratios and goals no longer follow from the runs.
			r.Cases[0].Results[1].Runs[0].ServerCPUUSPerOp *= 2
		}, "upoll-echo"},
		{"median", func(r *Report) {
			r.Cases[0].Results[0].Median.OpsPerSec = 1e6
		}, "std-echo"},
		{"ratio to the baseline", func(r *Report) {
			r.Cases[0].Results[1].VsBaseline.ServerCPUUSPerOp = 0.25
		}, "upoll-echo"},
		{"verified", func(r *Report) {
			// A run that failed, its result still marked verified.
			res := &r.Cases[0].Results[1]
			res.Runs[2].Verified, res.Runs[2].VerifiedBytes = false, 0
		}, "upoll-echo"},
		{"latency order", func(r *Report) {
			run := &r.Cases[0].Results[0].Runs[1]
			run.P50US, run.P99US = run.P99US, run.P50US
		}, "p50"},
	} {
		probs := Check(write(t, tc.edit))
		if !strings.Contains(strings.Join(probs, "\n"), tc.want) {
			t.Errorf("%s changed: check found %q, want a problem naming %q", tc.name, probs, tc.want)
		}
	}
	// report.md's goals say what report.json's do.
	dir := write(t, nil)
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := "| upoll-echo server CPU/msg vs cloudwego-echo | 1.25× (1.25–1.25) | <= 1.00× | not met |"
	if !strings.Contains(string(md), row) {
		t.Fatalf("report.md lacks %q", row)
	}
	os.WriteFile(filepath.Join(dir, "report.md"), []byte(strings.Replace(string(md), row,
		"| upoll-echo server CPU/msg vs cloudwego-echo | 0.95× (0.95–0.95) | <= 1.00× | met |", 1)), 0o644)
	if probs := Check(dir); !strings.Contains(strings.Join(probs, "\n"), "report.md") {
		t.Errorf("report.md's goals edited: check found %q", probs)
	}
}
