package report

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// Text renders the report for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upoll bench — suite %s, %s\n", r.Suite, r.Started.Format(time.RFC3339))
	b.WriteString(r.machineLine() + "\n")
	fmt.Fprintf(&b, "%d runs per case, targets interleaved round by round; medians. \"x base\": median of the per-round ratios to the\n", r.Settings.Runs)
	b.WriteString("standard library, (lowest–highest) of them beside it. cores srv/load/oth: CPU the server, the load generator and the\n")
	b.WriteString("rest of the machine (hypervisor steal included) used over the window. runs: verified/all. h+s: Go heap+stack,\n")
	b.WriteString("alloc: live heap, gor: goroutines, per idle conn, or per conn added to the second half. p999 and more: report.md.\n")
	b.WriteString("(epoll), (std): the netpoll backend a upoll target ran on. rpc: srv and cli, the CPU of the server and client processes.\n")
	for i := range r.Cases {
		c := &r.Cases[i]
		fmt.Fprintf(&b, "\n%s (base %s)\n", c.Title(), c.Baseline)
		c.table(false, true).text(&b)
	}
	if len(r.Sweep) > 0 {
		b.WriteString("\nSWEEP (upoll-echo options; x base = vs std-echo)\n")
		for i := range r.Sweep {
			c := &r.Sweep[i]
			fmt.Fprintf(&b, "\n%s\n", c.Title())
			c.table(true, true).text(&b)
		}
		for _, w := range SweepWinners(r.Sweep) {
			for i, l := range wrapText(w, TermWidth-4) {
				b.WriteString(map[bool]string{true: "  ", false: "    "}[i == 0] + l + "\n")
			}
		}
	}
	if hasSyscalls(r.Cases) {
		b.WriteString("\nSYSTEM CALLS PER OPERATION (medians)\n")
		syscallTable(r.Cases, true).text(&b)
		for _, l := range syscallLegend(r.Cases) {
			for i, w := range wrapText(l, TermWidth-4) {
				b.WriteString(map[bool]string{true: "  ", false: "    "}[i == 0] + w + "\n")
			}
		}
	}
	b.WriteString("\nGOALS\n")
	goalTable(r.Goals, true).text(&b)
	var tail strings.Builder
	r.tail(&tail)
	for l := range strings.Lines(tail.String()) {
		for i, w := range wrapText(strings.TrimRight(l, "\n"), TermWidth-2) {
			if i > 0 {
				w = "  " + w
			}
			b.WriteString(w + "\n")
		}
	}
	return b.String()
}

// Markdown renders the report as a Markdown document.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# upoll bench report\n\nSuite **%s**, started %s, took %s.\n\n",
		r.Suite, r.Started.Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(&b, "Machine: %s\n\n", r.machineLine())
	fmt.Fprintf(&b, "Command: `%s`\n\n", strings.Join(r.Command, " "))
	fmt.Fprintf(&b, "Method: each case ran %d times per target, targets interleaved round by round, %.1fs warm-up then a %.1fs measured window per run; "+
		"figures are medians; ratios (\"x base\") are medians of per-round ratios against the standard-library target of the same round, "+
		"with the lowest and highest of those ratios in brackets: where two targets' brackets overlap, this run cannot tell them apart. "+
		"A goal is \"within noise\" when its rounds fall on both sides of the threshold. "+
		"Server CPU is utime+stime of the server process over the window (schedstat ns where consistent), divided by operations. "+
		"\"srv cores\" and \"load cores\" are the CPU the server and the load-generator processes used over the window (which side was the limit); "+
		"\"other\" is what the rest of the machine and the hypervisor (steal) used meanwhile. "+
		"Every echoed byte and HTTP body was compared with what was expected.\n\n",
		r.Settings.Runs, r.Settings.WarmupSec, r.Settings.DurationSec)
	b.WriteString("## Goals\n\n")
	goalTable(r.Goals, false).markdown(&b)
	b.WriteString("\n## Targets\n\n")
	tt := &table{head: []string{"target", "kind", "backend", "what", "status"}}
	for _, t := range r.Targets {
		st := "ran"
		if t.Excluded != "" {
			st = "excluded: " + t.Excluded
		}
		tt.add(t.Name, t.Kind, cmp.Or(t.Backend, "-"), t.Note, st)
	}
	tt.markdown(&b)
	b.WriteString("\n## Results\n")
	for i := range r.Cases {
		c := &r.Cases[i]
		fmt.Fprintf(&b, "\n### %s\n\nbase: %s\n\n", c.Title(), c.Baseline)
		c.table(false, false).markdown(&b)
	}
	if hasSyscalls(r.Cases) {
		b.WriteString("\n## System calls per operation\n\nMedians over the rounds.\n\n")
		syscallTable(r.Cases, false).markdown(&b)
		b.WriteString("\n")
		for _, l := range syscallLegend(r.Cases) {
			if rest, ok := strings.CutPrefix(l, "  "); ok {
				b.WriteString("  - " + rest + "\n")
			} else {
				b.WriteString("- " + l + "\n")
			}
		}
	}
	if len(r.Sweep) > 0 {
		b.WriteString("\n## Sweep: upoll-echo trigger x wait x dispatch x pollers\n")
		for i := range r.Sweep {
			c := &r.Sweep[i]
			fmt.Fprintf(&b, "\n### %s\n\n", c.Title())
			c.table(true, false).markdown(&b)
		}
		b.WriteString("\n")
		for _, w := range SweepWinners(r.Sweep) {
			b.WriteString("- " + w + "\n")
		}
	}
	b.WriteString("\n## Charts\n\nMedians; each error bar runs from the lowest to the highest round. Connections and idle memory are on log axes, " +
		"p99 latency too; throughput and CPU axes start at 0.\n\n")
	for _, ch := range r.BuildCharts() {
		fmt.Fprintf(&b, "![%s](%s)\n\n", ch.Title, ch.File)
	}
	b.WriteString("## Notes\n\n")
	r.tail(&b)
	return b.String()
}

func (r *Report) machineLine() string {
	m := r.Machine
	pin := "no pinning"
	if r.Settings.Pin != "off" {
		pin = "pinning " + r.Settings.Pin
	}
	return fmt.Sprintf("%s, %d cores (GOMAXPROCS %d), Linux %s, %s %s/%s, %s",
		m.CPUModel, m.Cores, m.GOMAXPROCS, m.Kernel, m.GoVersion, m.OS, m.Arch, pin)
}

func (r *Report) tail(b *strings.Builder) {
	for _, t := range r.Targets {
		if t.Excluded != "" {
			fmt.Fprintf(b, "- target %s excluded: %s\n", t.Name, t.Excluded)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(b, "- ERROR: %s\n", e)
	}
}

// goalTable lists the goals. In a terminal each goal's detail goes, wrapped,
// under its row; Markdown gives it a column.
func goalTable(gs []Goal, term bool) *table {
	t := &table{head: []string{"goal", "measured", "target", "status", "where"}}
	if term {
		t.head = t.head[:4]
	}
	for _, g := range gs {
		meas, status := "-", g.Status
		if status == "" { // a report written before goals had a status
			status = StatusNotMeasured
			if g.Measured {
				status = map[bool]string{true: StatusMet, false: StatusNotMet}[g.Met]
			}
		}
		unit := goalUnit(g.Name)
		if g.Measured {
			s := Spread{Median: g.Ratio, Lo: g.Lo, Hi: g.Hi, N: g.Rounds}
			if s.N == 0 { // a report written before goals kept their rounds
				s.N = 1
				if g.Lo != g.Hi {
					s.N = 2
				}
			}
			switch unit {
			case "B":
				s.Median = g.Value
				meas = figureCell(s, func(v float64) string { return fmt.Sprintf("%.0f B", v) })
			case "calls":
				s.Median = g.Value
				prec := goalPrec(g.Value, g.Threshold)
				meas = figureCell(s, func(v float64) string { return fmt.Sprintf("%.*f", prec, v) })
			default:
				meas = ratioCellPrec(s, goalPrec(g.Ratio, g.Threshold))
			}
		}
		thr := fmt.Sprintf("%s %.2f×", g.Op, g.Threshold)
		switch unit {
		case "B":
			thr = fmt.Sprintf("%s %.0f B", g.Op, g.Threshold)
		case "calls":
			thr = fmt.Sprintf("%s %.2f", g.Op, g.Threshold)
		}
		if term {
			t.add(g.Name, meas, thr, status)
			t.note(g.Detail)
			continue
		}
		t.add(g.Name, meas, thr, status, g.Detail)
	}
	return t
}

// SweepWinners says, for each sweep case, which options gave the highest
// throughput and which the lowest server CPU per message.
func SweepWinners(cases []Case) []string {
	var out []string
	for i := range cases {
		c := &cases[i]
		var best, cheap *Result
		for j := range c.Results {
			r := &c.Results[j]
			if r.Options == "" || !r.Verified {
				continue
			}
			if best == nil || r.Median.OpsPerSec > best.Median.OpsPerSec {
				best = r
			}
			if r.Median.ServerCPUUSPerOp > 0 && (cheap == nil || r.Median.ServerCPUUSPerOp < cheap.Median.ServerCPUUSPerOp) {
				cheap = r
			}
		}
		if best == nil {
			continue
		}
		// A server whose CPU could not be sampled has no figure: no
		// run to name as the cheapest.
		least := "least server CPU not measured"
		if cheap != nil {
			least = fmt.Sprintf("least server CPU %s (%s µs/msg)", cheap.Options, num(cheap.Median.ServerCPUUSPerOp))
		}
		out = append(out, fmt.Sprintf("%s: fastest %s (%s msg/s); %s", c.Title(), best.Options, num(best.Median.OpsPerSec), least))
	}
	return out
}
