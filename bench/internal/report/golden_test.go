package report

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/report.golden.md from testdata/fixture.json")

// loadFixture reads the fixed report the rendering tests start from: a real
// smoke run (3 rounds, 10 and 100 connections, every target).
func loadFixture(t *testing.T, name string) *Report {
	t.Helper()
	r, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGoldenMarkdown(t *testing.T) {
	r := loadFixture(t, "fixture.json")
	r.Goals = Goals(r.Cases) // judged by this version, not the one that ran
	got := r.Markdown()
	golden := filepath.Join("testdata", "report.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("report.md differs from %s at line %d:\ngot  %q\nwant %q\n(go test -run TestGoldenMarkdown -update rewrites it)", golden, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("report.md has %d lines, %s %d", len(gl), golden, len(wl))
	}
	// Charts for a person to look at: UPOLL_BENCH_CHARTS=DIR go test -run Golden.
	if dir := os.Getenv("UPOLL_BENCH_CHARTS"); dir != "" {
		if err := r.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTextFitsTerminal(t *testing.T) {
	r := loadFixture(t, "fixture.json")
	txt := r.Text()
	for i, l := range strings.Split(txt+crowded().Text(), "\n") {
		if n := utf8.RuneCountInString(l); n > TermWidth {
			t.Errorf("line %d is %d columns wide:\n%s", i+1, n, l)
		}
	}
	for _, s := range []string{"GOALS", "x base", "×", "within noise", "floor-echo"} {
		if !strings.Contains(txt, s) {
			t.Errorf("terminal report lacks %q", s)
		}
	}
	// Every ratio of the report's tables carries its spread.
	md := r.Markdown()
	bare := regexp.MustCompile(`\| [0-9.]+× \|`)
	for _, l := range strings.Split(md, "\n") {
		if bare.MatchString(l) {
			t.Errorf("a ratio without its spread: %s", l)
		}
	}
}

func TestFixtureIsAReport(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fixture.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil || r.Schema != Schema || r.Settings.Runs != 3 {
		t.Fatalf("fixture: %v, schema %q, runs %d", err, r.Schema, r.Settings.Runs)
	}
}
