package report

import (
	"fmt"
	"strings"
	"time"
)

// Comparison is one report (OLD) against another (NEW) of the same suite:
// per case, target and figure, the two medians with their spreads.
type Comparison struct {
	Old, New *Report
	Rows     []CompareRow
}

// CompareRow is one figure of one target in one case, in OLD and in NEW.
// A side that did not measure it has N == 0.
type CompareRow struct {
	Case   string // the case's title
	Target string // target, with its options if a -variants entry
	Metric string
	Old    Spread
	New    Spread
	// LowerBetter says which way is an improvement.
	LowerBetter bool
}

// Ratio is NEW's median over OLD's (0 when either is missing).
func (c CompareRow) Ratio() float64 {
	if c.Old.N == 0 || c.New.N == 0 || c.Old.Median <= 0 {
		return 0
	}
	return c.New.Median / c.Old.Median
}

// Verdict says whether NEW differs from OLD beyond noise: "~" when the
// rounds of one run overlap those of the other (the way benchstat writes
// no significant change), else better or worse by how much.
func (c CompareRow) Verdict() string {
	switch {
	case c.Old.N == 0 && c.New.N == 0:
		return "not measured"
	case c.Old.N == 0:
		return "only in NEW"
	case c.New.N == 0:
		return "only in OLD"
	case c.Old.N < 2 || c.New.N < 2:
		return "? (1 round: no spread)"
	case c.Old.Overlaps(c.New):
		return "~"
	}
	pct := (c.Ratio() - 1) * 100
	better := (pct < 0) == c.LowerBetter
	word := "worse"
	if better {
		word = "better"
	}
	return fmt.Sprintf("%+.1f%% %s", pct, word)
}

// Compare matches the cases of old and new by their id and the results by
// target and options. Reports of different suites measure different
// things and are refused.
func Compare(old, new *Report) (*Comparison, error) {
	if old.Suite != new.Suite {
		return nil, fmt.Errorf("compare: OLD is suite %q, NEW is suite %q: compare reports of the same suite", old.Suite, new.Suite)
	}
	cmp := &Comparison{Old: old, New: new}
	oldCases := map[string]*Case{}
	for i := range old.Cases {
		oldCases[old.Cases[i].ID] = &old.Cases[i]
	}
	seen := map[string]bool{}
	for i := range new.Cases {
		nc := &new.Cases[i]
		seen[nc.ID] = true
		cmp.addCase(oldCases[nc.ID], nc)
	}
	for i := range old.Cases {
		if oc := &old.Cases[i]; !seen[oc.ID] {
			cmp.addCase(oc, nil)
		}
	}
	return cmp, nil
}

// compareMetric is one figure a comparison shows.
type compareMetric struct {
	name        string
	f           func(Metrics) float64
	lowerBetter bool
	vsBase      bool // the per-round ratio to the case's baseline target
}

func compareMetrics(c *Case) []compareMetric {
	if c.Workload == "idle" {
		return []compareMetric{
			{"mem/added conn", Metrics.MemMarginal, true, false},
			{"mem/conn", Metrics.MemPerConn, true, false},
		}
	}
	unit := c.Unit()
	ms := []compareMetric{
		{unit + "/s", opsPerSec, false, false},
		{"p99 µs", p99, true, false},
		{"CPU µs/" + unit, cpuPerOp, true, false},
		{"CPU x " + c.Baseline, cpuPerOp, true, true},
	}
	if c.Workload == "rpc" {
		// The load generator is the client under test.
		ms = append(ms, compareMetric{"client µs/" + unit, loadCPUPerOp, true, false},
			compareMetric{"client x " + c.Baseline, loadCPUPerOp, true, true})
	}
	return ms
}

// addCase adds the rows of one case; oc or nc is nil when the case ran in
// one report only.
func (cmp *Comparison) addCase(oc, nc *Case) {
	c := nc
	if c == nil {
		c = oc
	}
	type pair struct{ old, new *Result }
	var order []string
	pairs := map[string]*pair{}
	for side, cs := range []*Case{oc, nc} {
		if cs == nil {
			continue
		}
		for i := range cs.Results {
			r := &cs.Results[i]
			l := r.label(false)
			p, ok := pairs[l]
			if !ok {
				p = &pair{}
				pairs[l] = p
				order = append(order, l)
			}
			if side == 0 {
				p.old = r
			} else {
				p.new = r
			}
		}
	}
	spread := func(cs *Case, r *Result, m compareMetric) Spread {
		if cs == nil || r == nil {
			return Spread{}
		}
		if m.vsBase {
			return RatioSpread(r, cs.Find(cs.Baseline), m.f)
		}
		return r.SpreadOf(m.f)
	}
	for _, l := range order {
		p := pairs[l]
		for _, m := range compareMetrics(c) {
			if m.vsBase && l == c.Baseline {
				continue // the baseline against itself
			}
			row := CompareRow{Case: c.Title(), Target: l, Metric: m.name, LowerBetter: m.lowerBetter,
				Old: spread(oc, p.old, m), New: spread(nc, p.new, m)}
			if row.Old.N == 0 && row.New.N == 0 {
				continue
			}
			cmp.Rows = append(cmp.Rows, row)
		}
	}
}

// table lays the rows of one case out.
func (cmp *Comparison) table(rows []CompareRow, term bool) *table {
	t := &table{head: []string{"target", "figure", "OLD", "NEW", "NEW/OLD", "verdict"}}
	for _, r := range rows {
		format := num
		if strings.HasPrefix(r.Metric, "mem") {
			format = bytesNum
		}
		cell := func(s Spread) string {
			if strings.Contains(r.Metric, " x ") {
				return ratioCell(s)
			}
			return figureCell(s, format)
		}
		ratio := "-"
		if q := r.Ratio(); q > 0 {
			ratio = fmt.Sprintf("%.3f×", q)
		}
		target := r.Target
		if term && sameTarget(t, r.Target) {
			target = "" // the terminal names a target once
		}
		t.add(target, r.Metric, cell(r.Old), cell(r.New), ratio, r.Verdict())
	}
	return t
}

// sameTarget reports whether the last row that names a target names this one.
func sameTarget(t *table, target string) bool {
	for i := len(t.rows) - 1; i >= 0; i-- {
		if t.rows[i][0] != "" {
			return t.rows[i][0] == target
		}
	}
	return false
}

// byCase splits the rows into runs of one case each, in order.
func (cmp *Comparison) byCase() [][]CompareRow {
	var out [][]CompareRow
	for i, r := range cmp.Rows {
		if i == 0 || cmp.Rows[i-1].Case != r.Case {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], r)
	}
	return out
}

func (cmp *Comparison) header() string {
	side := func(name string, r *Report) string {
		return fmt.Sprintf("%s: suite %s, %d rounds, %s, started %s", name, r.Suite, r.Settings.Runs,
			r.machineLine(), r.Started.Format(time.RFC3339))
	}
	return side("OLD", cmp.Old) + "\n" + side("NEW", cmp.New) + "\n"
}

// compareMethod says how to read the verdicts.
const compareMethod = `Each figure is the median of a run's rounds with the lowest and highest round in brackets; "CPU x std-..." is the ` +
	`per-round ratio to the case's baseline target, which a change of machine load moves less than absolute figures. ` +
	`Verdict "~": the rounds of OLD and NEW overlap, so the two runs cannot tell the builds apart (no difference beyond ` +
	`the spread of either run); otherwise the change of the median and whether it is better or worse.`

// Summary counts the figures that changed beyond noise.
func (cmp *Comparison) Summary() string {
	var better, worse, same, alone, unknown int
	for _, r := range cmp.Rows {
		switch v := r.Verdict(); {
		case v == "~":
			same++
		case strings.HasSuffix(v, " better"):
			better++
		case strings.HasSuffix(v, " worse"):
			worse++
		case strings.HasPrefix(v, "only in"):
			alone++
		default:
			unknown++
		}
	}
	s := fmt.Sprintf("%d figures compared: %d better and %d worse beyond noise, %d within noise (~)", len(cmp.Rows), better, worse, same)
	if alone > 0 {
		s += fmt.Sprintf(", %d in one report only", alone)
	}
	if unknown > 0 {
		s += fmt.Sprintf(", %d without a verdict (a single round)", unknown)
	}
	return s
}

// Text renders the comparison for a terminal (120 columns).
func (cmp *Comparison) Text() string {
	var b strings.Builder
	for _, l := range strings.Split(cmp.header()+compareMethod+"\n"+cmp.Summary(), "\n") {
		for _, w := range wrapText(l, TermWidth-2) {
			b.WriteString(w + "\n")
		}
	}
	for _, rows := range cmp.byCase() {
		fmt.Fprintf(&b, "\n%s\n", rows[0].Case)
		cmp.table(rows, true).text(&b)
	}
	return b.String()
}

// Markdown renders the comparison as a Markdown document.
func (cmp *Comparison) Markdown() string {
	var b strings.Builder
	b.WriteString("# upoll bench: OLD against NEW\n\n")
	for _, l := range strings.Split(strings.TrimSpace(cmp.header()), "\n") {
		b.WriteString("- " + l + "\n")
	}
	b.WriteString("\n" + compareMethod + "\n\n" + cmp.Summary() + ".\n")
	for _, rows := range cmp.byCase() {
		fmt.Fprintf(&b, "\n## %s\n\n", rows[0].Case)
		cmp.table(rows, false).markdown(&b)
	}
	return b.String()
}
