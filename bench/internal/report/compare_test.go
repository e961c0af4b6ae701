package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCompareFixtures: NEW is OLD with upoll-echo's server CPU per message
// cut to 0.7x in every round, gnet-echo dropped and floor-echo added.
func TestCompareFixtures(t *testing.T) {
	old, new := loadFixture(t, "compare_old.json"), loadFixture(t, "compare_new.json")
	cmp, err := Compare(old, new)
	if err != nil {
		t.Fatal(err)
	}
	verdict := map[string]string{}
	for _, r := range cmp.Rows {
		verdict[r.Case+"|"+r.Target+"|"+r.Metric] = r.Verdict()
	}
	pp, idle := "echo ping-pong: 100 conns x 64 B", "idle memory (echo): 200 conns"
	for key, want := range map[string]string{
		// The rounds drifted: absolute CPU overlaps, the per-round ratio to
		// std-echo does not.
		pp + "|upoll-echo|CPU µs/msg":     "~",
		pp + "|upoll-echo|CPU x std-echo": "-30.0% better",
		pp + "|upoll-echo|msg/s":          "~",
		pp + "|std-echo|CPU µs/msg":       "~",
		pp + "|gnet-echo|CPU µs/msg":      "only in OLD",
		pp + "|floor-echo|CPU µs/msg":     "only in NEW",
		idle + "|floor-echo|mem/conn":     "only in NEW",
		idle + "|upoll-echo|mem/conn":     "~",
	} {
		if got, ok := verdict[key]; !ok || got != want {
			t.Errorf("%s: verdict %q (present %v), want %q", key, got, ok, want)
		}
	}
	if _, ok := verdict[pp+"|std-echo|CPU x std-echo"]; ok {
		t.Error("the baseline is compared against itself")
	}
	txt := cmp.Text()
	for i, l := range strings.Split(txt, "\n") {
		if n := utf8.RuneCountInString(l); n > TermWidth {
			t.Errorf("line %d is %d columns: %s", i+1, n, l)
		}
	}
	for _, s := range []string{"0.74× (0.67–0.77)", "-30.0% better", "only in OLD", "1 better and 0 worse beyond noise"} {
		if !strings.Contains(txt, s) {
			t.Errorf("comparison lacks %q:\n%s", s, txt)
		}
	}
	if md := cmp.Markdown(); !strings.Contains(md, "| upoll-echo | CPU x std-echo | 1.06× (0.96–1.10) | 0.74× (0.67–0.77) | 0.700× | -30.0% better |") {
		t.Errorf("Markdown comparison:\n%s", md)
	}
	// Worse is worse: the same pair the other way round.
	back, err := Compare(new, old)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range back.Rows {
		if r.Target == "upoll-echo" && r.Metric == "CPU x std-echo" && r.Verdict() != "+42.9% worse" {
			t.Errorf("NEW->OLD verdict %q", r.Verdict())
		}
	}
}

func TestCompareRefusesBadInput(t *testing.T) {
	old := loadFixture(t, "compare_old.json")
	if _, err := Compare(old, loadFixture(t, "compare_quick.json")); err == nil || !strings.Contains(err.Error(), `suite "quick"`) {
		t.Errorf("another suite: %v", err)
	}
	for name, want := range map[string]string{
		"missing.json":     "no such file",
		"malformed.json":   "not a bench report.json",
		"report.golden.md": "not a bench report.json",
		"../../../go.mod":  "not a bench report.json",
	} {
		if _, err := Load(filepath.Join("testdata", name)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%s): %v, want %q", name, err, want)
		}
	}
	if _, err := Load("testdata"); err == nil || !strings.Contains(err.Error(), "report.json") {
		t.Errorf("a directory without report.json: %v", err)
	}
	// JSON, but not a report.
	p := filepath.Join(t.TempDir(), "other.json")
	if err := os.WriteFile(p, []byte(`{"name": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("JSON that is no report: %v", err)
	}
}

func TestVerdictNeedsTwoRounds(t *testing.T) {
	one := Spread{Median: 10, Lo: 10, Hi: 10, N: 1}
	two := Spread{Median: 5, Lo: 4, Hi: 6, N: 2}
	if v := (CompareRow{Old: one, New: two, LowerBetter: true}).Verdict(); !strings.HasPrefix(v, "?") {
		t.Errorf("one round: %q", v)
	}
	if v := (CompareRow{Old: Spread{Median: 10, Lo: 9, Hi: 11, N: 3}, New: two, LowerBetter: true}).Verdict(); v != "-50.0% better" {
		t.Errorf("apart: %q", v)
	}
	if v := (CompareRow{Old: Spread{Median: 10, Lo: 6, Hi: 11, N: 3}, New: two, LowerBetter: true}).Verdict(); v != "~" {
		t.Errorf("touching: %q", v)
	}
}

// TestCompareRPCClient: the rpc case compares the client's CPU per call
// too (the load generator is the client under test), in calls.
func TestCompareRPCClient(t *testing.T) {
	cmp, err := Compare(sample(), sample())
	if err != nil {
		t.Fatal(err)
	}
	txt := cmp.Text()
	for _, want := range []string{"client µs/call", "client x std-rpc", "0.80× (0.80–0.80)", "call/s"} {
		if !strings.Contains(txt, want) {
			t.Errorf("comparison lacks %q:\n%s", want, txt)
		}
	}
}
