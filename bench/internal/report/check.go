package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
)

// Check verifies a report directory: report.md, report.json and every chart
// it names exist (some must, where a charted case ran); the JSON has the
// current schema, at least one case, goals, no errors; every run of every
// case is verified with positive figures and p50 <= p99 <= p999; and what
// the report states follows from its runs: each result's medians, ratios
// to the baseline and verification, the goals as this version judges them,
// and the goals table of report.md.
// It returns the problems found (none: the report is sound).
func Check(dir string) []string {
	var probs []string
	bad := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		bad("report.md: %v", err)
	} else if !strings.Contains(string(md), "## Goals") {
		bad("report.md has no Goals section")
	}
	j, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return append(probs, fmt.Sprintf("report.json: %v", err))
	}
	var r Report
	if err := json.Unmarshal(j, &r); err != nil {
		return append(probs, fmt.Sprintf("report.json: %v", err))
	}
	if r.Schema != Schema {
		bad("schema %q, want %q", r.Schema, Schema)
	}
	if len(r.Cases) == 0 {
		bad("no cases")
	}
	if len(r.Goals) == 0 {
		bad("no goals")
	}
	for _, e := range r.Errors {
		bad("error recorded: %s", e)
	}
	if r.Machine.Cores < 1 || r.Machine.GoVersion == "" {
		bad("machine not recorded")
	}
	for _, c := range append(r.Cases, r.Sweep...) {
		if len(c.Results) == 0 {
			bad("%s: no results", c.ID)
		}
		for _, res := range c.Results {
			who := c.ID + " " + res.label(false)
			if len(res.Runs) == 0 || !res.Verified {
				bad("%s: not verified", who)
			}
			for _, run := range res.Runs {
				checkRun(bad, who, c.Workload, run)
			}
		}
	}
	probs = append(probs, derived(&r, md)...)
	charted := false // charts are drawn of the ping-pong, HTTP and idle cases
	for _, c := range r.Cases {
		charted = charted || (c.Workload == "pingpong" || c.Workload == "http" || c.Workload == "idle") && !c.Pinned
	}
	if charted && len(r.Charts) == 0 {
		bad("no charts")
	}
	for _, ch := range r.Charts {
		b, err := os.ReadFile(filepath.Join(dir, ch.File))
		if err != nil {
			bad("chart %s: %v", ch.File, err)
		} else if doc := strings.TrimSpace(string(b)); !strings.Contains(doc[:min(len(doc), 200)], "<svg") || !strings.HasSuffix(doc, "</svg>") {
			bad("chart %s: not an SVG document", ch.File)
		} else if err := wellFormed(b); err != nil {
			bad("chart %s: %v", ch.File, err)
		}
	}
	return probs
}

func checkRun(bad func(string, ...any), who, workload string, run Run) {
	who = fmt.Sprintf("%s round %d", who, run.Round)
	if run.Error != "" {
		bad("%s: %s", who, run.Error)
		return
	}
	if !run.Verified || run.VerifiedBytes == 0 {
		bad("%s: bytes not verified", who)
	}
	m := run.Metrics
	if workload == "idle" {
		if m.IdleConns <= 0 || m.MemPerConn() <= 0 {
			bad("%s: no idle memory figure", who)
		}
		return
	}
	for name, v := range map[string]float64{"ops/s": m.OpsPerSec, "p50": m.P50US, "p99": m.P99US, "p999": m.P999US,
		"server CPU/op": m.ServerCPUUSPerOp, "load CPU": m.LoadCPUCores} {
		if !(v > 0) {
			bad("%s: %s not positive (%v)", who, name, v)
		}
	}
	// Quantiles of one histogram cannot decrease with the quantile.
	if m.P50US > m.P99US || m.P99US > m.P999US {
		bad("%s: p50 %v, p99 %v, p999 %v out of order", who, m.P50US, m.P99US, m.P999US)
	}
}

// derived re-derives from r's runs what r states about them: each
// result's medians, ratios to its case's baseline, verification and
// backend (as finishing the runs gives them), and the goals; and checks
// that md, the report's Markdown (nil if unread), shows r's goals. A
// report edited after it was written, or written from figures other than
// its runs, fails here. Goals are judged by this version of the bench, so
// a report of an older version whose judging has changed fails too.
func derived(r *Report, md []byte) []string {
	var probs []string
	bad := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	for _, c := range append(slices.Clone(r.Cases), r.Sweep...) {
		var base *Result
		for i := range c.Results {
			if c.Results[i].Target == c.Baseline && c.Results[i].Options == "" {
				base = &c.Results[i]
			}
		}
		for i := range c.Results {
			res := &c.Results[i]
			who := c.ID + " " + res.label(false)
			want := *res
			want.VsBaseline = nil
			if res == base {
				want.Finish(nil)
			} else {
				want.Finish(base)
			}
			if want.Verified != res.Verified {
				bad("%s: verified is %v, its runs give %v", who, res.Verified, want.Verified)
			}
			if want.Median != res.Median {
				bad("%s: medians do not follow from its runs: %s", who, fieldDiff(res.Median, want.Median))
			}
			switch {
			case (want.VsBaseline == nil) != (res.VsBaseline == nil):
				bad("%s: ratios to the baseline present %v, its runs give %v", who, res.VsBaseline != nil, want.VsBaseline != nil)
			case want.VsBaseline != nil && *want.VsBaseline != *res.VsBaseline:
				bad("%s: ratios to %s do not follow from the runs: %s", who, c.Baseline, fieldDiff(*res.VsBaseline, *want.VsBaseline))
			}
			if want.Backend != res.Backend {
				bad("%s: backend %q, its runs give %q", who, res.Backend, want.Backend)
			}
		}
	}
	stated, judged := map[string]Goal{}, map[string]bool{}
	for _, g := range r.Goals {
		stated[g.Name] = g
	}
	for _, g := range Goals(r.Cases) {
		judged[g.Name] = true
		switch s, ok := stated[g.Name]; {
		case !ok:
			bad("goal %q: missing (the runs give %s)", g.Name, g.Status)
		case s != g:
			bad("goal %q: report.json says %s, the runs give %s: %s", g.Name, s.Status, g.Status, fieldDiff(s, g))
		}
	}
	for _, g := range r.Goals {
		if !judged[g.Name] {
			bad("goal %q: not one the runs give", g.Name)
		}
	}
	if md != nil {
		var t strings.Builder
		goalTable(r.Goals, false).markdown(&t)
		if !bytes.Contains(md, []byte(t.String())) {
			bad("report.md: its goals table is not that of report.json")
		}
	}
	return probs
}

// wellFormed reports whether b parses as XML from start to end.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// fieldDiff names the fields (by their JSON names) in which the structs
// stated and derived, of one type, differ: "ratio 0.4, runs give 0.5".
func fieldDiff(stated, derived any) string {
	a, b := reflect.ValueOf(stated), reflect.ValueOf(derived)
	var d []string
	for i := range a.NumField() {
		if x, y := a.Field(i).Interface(), b.Field(i).Interface(); x != y {
			name, _, _ := strings.Cut(a.Type().Field(i).Tag.Get("json"), ",")
			d = append(d, fmt.Sprintf("%s %v, runs give %v", cmp.Or(name, a.Type().Field(i).Name), x, y))
		}
	}
	return strings.Join(d, "; ")
}
