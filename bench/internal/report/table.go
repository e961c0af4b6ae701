package report

import (
	"fmt"
	"strings"
)

// table is a header and rows of cells, rendered aligned for a terminal or as
// Markdown.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) text(b *strings.Builder) {
	w := make([]int, len(t.head))
	for i, h := range t.head {
		w[i] = len(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			w[i] = max(w[i], len(c))
		}
	}
	line := func(cells []string) {
		for i, c := range cells {
			if i == 0 || i == len(cells)-1 {
				fmt.Fprintf(b, "  %-*s", w[i], c)
			} else {
				fmt.Fprintf(b, "  %*s", w[i], c)
			}
		}
		b.WriteByte('\n')
	}
	line(t.head)
	sep := make([]string, len(t.head))
	for i := range sep {
		sep[i] = strings.Repeat("-", w[i])
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}

func (t *table) markdown(b *strings.Builder) {
	b.WriteString("| " + strings.Join(t.head, " | ") + " |\n|")
	for i := range t.head {
		if i == 0 || i == len(t.head)-1 {
			b.WriteString("---|")
		} else {
			b.WriteString("---:|")
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

func ratio(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}

func bytesNum(v float64) string {
	if v <= 0 {
		return "-"
	}
	if v >= 10240 {
		return fmt.Sprintf("%.1f KB", v/1024)
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
	default:
		s = c.ID
	}
	if c.Pinned {
		s += " [pinned: server cpu0, load cpu1]"
	}
	return s
}

func (c *Case) table(sweep bool) *table {
	first := "target"
	if sweep {
		first = "options"
	}
	if c.Workload == "idle" {
		t := &table{head: []string{first, "RSS/conn", "heap+stack/conn", "heap alloc/conn", "goroutines/conn",
			"RSS/added conn", "heap+stack/added conn", "x base", "verified"}}
		for _, r := range c.Results {
			m := r.Median
			t.add(r.label(sweep), bytesNum(m.RSSPerConn), bytesNum(m.HeapStackPerConn), bytesNum(m.HeapAllocPerConn),
				fmt.Sprintf("%.2f", m.GoroutinesPerConn), bytesNum(m.RSSMarginal), bytesNum(m.HeapStackMarginal),
				ratio(r.vs().MemPerConn), r.verifiedCell())
		}
		return t
	}
	unit := "msg"
	switch c.Workload {
	case "http":
		unit = "req"
	case "churn":
		unit = "conn"
	}
	t := &table{head: []string{first, unit + "/s", "x base", "p50 µs", "p99 µs", "p999 µs",
		"srv CPU µs/" + unit, "x base", "srv cores", "load cores", "other", "verified"}}
	for _, r := range c.Results {
		m, v := r.Median, r.vs()
		t.add(r.label(sweep), num(m.OpsPerSec), ratio(v.OpsPerSec), num(m.P50US), num(m.P99US), num(m.P999US),
			num(m.ServerCPUUSPerOp), ratio(v.ServerCPUUSPerOp), fmt.Sprintf("%.2f", m.ServerCPUCores),
			fmt.Sprintf("%.2f", m.LoadCPUCores), fmt.Sprintf("%.2f", m.OtherCPUCores+m.StealCores), r.verifiedCell())
	}
	return t
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

func (r *Result) vs() Ratios {
	if r.VsBaseline == nil {
		return Ratios{}
	}
	return *r.VsBaseline
}

func (r *Result) verifiedCell() string {
	if r.Verified {
		return fmt.Sprintf("yes (%d runs)", len(r.Runs))
	}
	for _, run := range r.Runs {
		if run.Error != "" {
			msg := run.Error
			if len(msg) > 60 {
				msg = msg[:60] + "..."
			}
			return "FAILED: " + msg
		}
	}
	return "NO"
}
