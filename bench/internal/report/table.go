package report

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// TermWidth is the width terminal tables are fitted to.
const TermWidth = 120

// table is a header and rows of cells, rendered aligned for a terminal or as
// Markdown. In a terminal, a note below a row (a goal's "where") takes the
// whole width, and the wrap column's cells break over lines until the table
// fits TermWidth; Markdown keeps every cell whole on one line.
type table struct {
	head  []string
	rows  [][]string
	notes map[int]string // row index -> text under that row (terminal)
	wrap  int            // column that may wrap in a terminal
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// note sets the text printed, wrapped, under the last row in a terminal.
func (t *table) note(s string) {
	if s == "" {
		return
	}
	if t.notes == nil {
		t.notes = map[int]string{}
	}
	t.notes[len(t.rows)-1] = s
}

func width(s string) int { return utf8.RuneCountInString(s) }

// numeric reports whether column i holds figures (each cell starts with a
// digit or "≥", or is "-" or "n/a" for none): those are right-aligned,
// text left-aligned.
func (t *table) numeric(i int) bool {
	digits := 0
	for _, r := range t.rows {
		c := r[i]
		switch {
		case c == "-" || c == "" || c == "n/a":
		case c[0] >= '0' && c[0] <= '9', strings.HasPrefix(c, "≥"):
			digits++
		default:
			return false
		}
	}
	return digits > 0
}

// textWidths are the column widths for a terminal, the wrap column
// narrowed (to no fewer than 12 characters) so that lines fit TermWidth.
func (t *table) textWidths() []int {
	w := make([]int, len(t.head))
	for i, h := range t.head {
		w[i] = width(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			w[i] = max(w[i], width(c))
		}
	}
	total := 0
	for _, x := range w {
		total += x + 2
	}
	if over := total - TermWidth; over > 0 {
		w[t.wrap] = max(12, w[t.wrap]-over, width(t.head[t.wrap]))
	}
	return w
}

func (t *table) text(b *strings.Builder) {
	w := t.textWidths()
	right := make([]bool, len(t.head))
	for i := range right {
		right[i] = t.numeric(i)
	}
	line := func(cells []string) {
		lines := make([][]string, len(cells))
		n := 1
		for i, c := range cells {
			lines[i] = []string{c}
			if i == t.wrap {
				lines[i] = wrapText(c, w[i])
			}
			n = max(n, len(lines[i]))
		}
		for k := range n {
			var l strings.Builder
			for i := range cells {
				c := ""
				if k < len(lines[i]) {
					c = lines[i][k]
				}
				pad := strings.Repeat(" ", max(0, w[i]-width(c)))
				if right[i] {
					l.WriteString("  " + pad + c)
				} else {
					l.WriteString("  " + c + pad)
				}
			}
			b.WriteString(strings.TrimRight(l.String(), " ") + "\n")
		}
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for i, r := range t.rows {
		line(r)
		if n, ok := t.notes[i]; ok {
			for _, l := range wrapText(n, TermWidth-6) {
				b.WriteString("      " + l + "\n")
			}
		}
	}
}

// wrapText breaks s into lines of at most n characters, after a space or a
// comma where it can, mid-word where it must.
func wrapText(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > n {
		cut := -1
		for i := n; i > n/3; i-- {
			if r[i-1] == ' ' || r[i-1] == ',' {
				cut = i
				break
			}
		}
		if cut < 0 {
			cut = n
		}
		out = append(out, strings.TrimRight(string(r[:cut]), " "))
		r = []rune(strings.TrimLeft(string(r[cut:]), " "))
	}
	return append(out, string(r))
}

func (t *table) markdown(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for i := range t.head {
		if t.numeric(i) {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteByte('\n')
	for _, r := range t.rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
}

// num formats a figure with 3 significant digits and a k/M suffix.
func num(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// bytesNum formats a byte count, in kB (1000 B) from 10 kB on.
func bytesNum(v float64) string {
	if v <= 0 {
		return "-"
	}
	if v >= 1e4 {
		return fmt.Sprintf("%.1f kB", v/1e3)
	}
	return fmt.Sprintf("%.0f B", v)
}

// Title describes a case for humans.
func (c *Case) Title() string {
	var s string
	switch c.Workload {
	case "pingpong":
		s = fmt.Sprintf("echo ping-pong: %d conns x %d B", c.Conns, c.Size)
	case "pipeline":
		s = fmt.Sprintf("echo pipelined: %d conns x %d msgs x %d B", c.Conns, c.Pipeline, c.Size)
	case "http":
		s = fmt.Sprintf("HTTP keep-alive hello: %d conns", c.Conns)
	case "idle":
		s = fmt.Sprintf("idle memory (%s): %d conns", c.Kind, c.Conns)
	case "churn":
		s = fmt.Sprintf("connection churn (%s): %d workers, connect+exchange+close", c.Kind, c.Conns)
	case "rpc":
		s = fmt.Sprintf("RPC, multiplexed: %d conns x %d calls in flight x %d B", c.Conns, c.Inflight, c.Size)
	default:
		s = c.ID
	}
	if c.Pinned {
		s += " [pinned: server cpu0, load cpu1]"
	}
	return s
}

// table lays out a case's results. The terminal version (term) leaves out
// p999 and puts the three CPU-core figures in one column, so that a ratio
// with its spread fits twice within TermWidth.
func (c *Case) table(sweep, term bool) *table {
	first := "target"
	if sweep {
		first = "options"
	}
	base := c.Find(c.Baseline)
	vs := func(r *Result, f func(Metrics) float64) string {
		if r == base {
			return "1 (base)"
		}
		return ratioCell(RatioSpread(r, base, f))
	}
	if c.Workload == "idle" {
		t := &table{head: []string{first, "RSS/conn", "heap+stack/conn", "heap alloc/conn", "goroutines/conn",
			"RSS/added conn", "heap+stack/added conn", "x base", "verified"}}
		if term {
			t.head = []string{first, "RSS/conn", "h+s/conn", "alloc/conn", "gor/conn", "RSS/added", "h+s/added", "x base", "runs"}
		}
		for i := range c.Results {
			r := &c.Results[i]
			m := r.Median
			t.add(r.label(sweep), bytesNum(m.RSSPerConn), bytesNum(m.HeapStackPerConn), bytesNum(m.HeapAllocPerConn),
				fmt.Sprintf("%.2f", m.GoroutinesPerConn), bytesNum(m.RSSMarginal), bytesNum(m.HeapStackMarginal),
				vs(r, Metrics.MemPerConn), r.verifiedCell(term))
		}
		return t
	}
	unit := c.Unit()
	if c.Workload == "rpc" {
		return c.rpcTable(term, vs)
	}
	t := &table{head: []string{first, "backend", unit + "/s", "x base", "p50 µs", "p99 µs", "p999 µs",
		"srv CPU µs/" + unit, "x base", "srv cores", "load cores", "other", "verified"}}
	if term {
		t.head = []string{first, unit + "/s", "x base", "p50 µs", "p99 µs", "CPU µs/" + unit, "x base", "cores srv/load/oth", "runs"}
	}
	for i := range c.Results {
		r := &c.Results[i]
		m := r.Median
		if term {
			t.add(r.termLabel(sweep), num(m.OpsPerSec), vs(r, opsPerSec), num(m.P50US), num(m.P99US),
				num(m.ServerCPUUSPerOp), vs(r, cpuPerOp),
				fmt.Sprintf("%.2f/%.2f/%.2f", m.ServerCPUCores, m.LoadCPUCores, m.OtherCPUCores+m.StealCores), r.verifiedCell(term))
			continue
		}
		t.add(r.label(sweep), r.backendCell(), num(m.OpsPerSec), vs(r, opsPerSec), num(m.P50US), num(m.P99US), num(m.P999US),
			num(m.ServerCPUUSPerOp), vs(r, cpuPerOp), fmt.Sprintf("%.2f", m.ServerCPUCores),
			fmt.Sprintf("%.2f", m.LoadCPUCores), fmt.Sprintf("%.2f", m.OtherCPUCores+m.StealCores), r.verifiedCell(term))
	}
	return t
}

// Unit names one operation of the case: msg, req, conn or call.
func (c *Case) Unit() string {
	switch c.Workload {
	case "http":
		return "req"
	case "churn":
		return "conn"
	case "rpc":
		return "call"
	}
	return "msg"
}

// rpcTable lays out the rpc case, where the load generator is the other
// half of the pair measured: its CPU per call stands beside the server's.
// The terminal version keeps the figures its goals judge.
func (c *Case) rpcTable(term bool, vs func(*Result, func(Metrics) float64) string) *table {
	t := &table{head: []string{"target", "backend", "call/s", "x base", "p50 µs", "p99 µs", "x base", "p999 µs",
		"srv CPU µs/call", "x base", "client CPU µs/call", "x base", "srv cores", "client cores", "other", "verified"}}
	if term {
		t.head = []string{"target", "call/s", "p99 µs", "x base", "srv µs/call", "x base", "cli µs/call", "x base", "runs"}
	}
	for i := range c.Results {
		r := &c.Results[i]
		m := r.Median
		if term {
			t.add(r.termLabel(false), num(m.OpsPerSec), num(m.P99US), vs(r, p99), num(m.ServerCPUUSPerOp), vs(r, cpuPerOp),
				num(m.LoadCPUUSPerOp), vs(r, loadCPUPerOp), r.verifiedCell(term))
			continue
		}
		t.add(r.label(false), r.backendCell(), num(m.OpsPerSec), vs(r, opsPerSec), num(m.P50US), num(m.P99US), vs(r, p99), num(m.P999US),
			num(m.ServerCPUUSPerOp), vs(r, cpuPerOp), num(m.LoadCPUUSPerOp), vs(r, loadCPUPerOp),
			fmt.Sprintf("%.2f", m.ServerCPUCores), fmt.Sprintf("%.2f", m.LoadCPUCores), fmt.Sprintf("%.2f", m.OtherCPUCores+m.StealCores),
			r.verifiedCell(term))
	}
	return t
}

// backendCell is the backend a upoll target ran on, "-" for the others.
func (r *Result) backendCell() string {
	if r.Backend == "" {
		return "-"
	}
	return r.Backend
}

// termLabel is label with the backend of a upoll target in brackets, the
// terminal's stand-in for the Markdown's backend column.
func (r *Result) termLabel(sweep bool) string {
	if r.Backend == "" || sweep {
		return r.label(sweep)
	}
	return r.label(sweep) + " (" + r.Backend + ")"
}

func (r *Result) label(sweep bool) string {
	switch {
	case r.Options == "":
		return r.Target
	case sweep:
		return r.Options
	}
	return r.Target + " [" + r.Options + "]"
}

func (r *Result) verifiedCell(term bool) string {
	if r.Verified {
		if term {
			return fmt.Sprintf("%d/%d", len(r.Runs), len(r.Runs))
		}
		return fmt.Sprintf("yes (%d runs)", len(r.Runs))
	}
	for _, run := range r.Runs {
		if run.Error != "" {
			msg := run.Error
			n := 60
			if term {
				n = 30
			}
			if len(msg) > n {
				msg = msg[:n] + "..."
			}
			return "FAILED: " + msg
		}
	}
	return "NO"
}
