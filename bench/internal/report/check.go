package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Check verifies a report directory: report.md, report.json and every chart
// it names exist (some must, where a charted case ran); the JSON has the
// current schema, at least one case, goals, no errors; and every run of
// every case is verified with positive figures.
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
			who := c.ID + " " + res.Target + res.Options
			if len(res.Runs) == 0 || !res.Verified {
				bad("%s: not verified", who)
			}
			for _, run := range res.Runs {
				checkRun(bad, who, c.Workload, run)
			}
		}
	}
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
