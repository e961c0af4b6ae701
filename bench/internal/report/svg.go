package report

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// Chart is one SVG file of the report.
type Chart struct {
	File  string `json:"file"`
	Title string `json:"title"`
	svg   string
}

// palette gives each target a fixed colour across charts.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"}

type series struct {
	name string
	x, y []float64
}

// BuildCharts builds the report's charts: throughput, p99 and server CPU per
// operation against connections (echo ping-pong and HTTP), and idle memory
// per connection.
func (r *Report) BuildCharts() []Chart {
	var out []Chart
	colours := map[string]string{}
	for i, t := range r.Targets {
		colours[t.Name] = palette[i%len(palette)]
	}
	for _, c := range r.Cases { // -variants: a colour for each configuration
		for _, res := range c.Results {
			if l := res.label(false); colours[l] == "" {
				colours[l] = palette[len(colours)%len(palette)]
			}
		}
	}
	for _, w := range []struct{ workload, label, unit string }{{"pingpong", "echo ping-pong", "msg"}, {"http", "HTTP keep-alive", "req"}} {
		metrics := []struct {
			file, title, ylabel string
			f                   func(Metrics) float64
		}{
			{"throughput", "throughput vs connections", w.unit + "/s", func(m Metrics) float64 { return m.OpsPerSec }},
			{"p99", "p99 latency vs connections", "p99 µs", func(m Metrics) float64 { return m.P99US }},
			{"cpu", "server CPU per " + w.unit + " vs connections", "µs CPU / " + w.unit, func(m Metrics) float64 { return m.ServerCPUUSPerOp }},
		}
		for _, m := range metrics {
			ss := r.seriesOf(w.workload, m.f)
			if len(ss) == 0 {
				continue
			}
			title := fmt.Sprintf("%s: %s", w.label, m.title)
			out = append(out, Chart{
				File:  fmt.Sprintf("%s_%s.svg", m.file, w.workload),
				Title: title,
				svg:   lineChart(title, "connections", m.ylabel, ss, colours),
			})
		}
	}
	var names []string
	var rss, hs []float64
	for _, c := range r.Cases {
		if c.Workload != "idle" || c.Pinned {
			continue
		}
		for _, res := range c.Results {
			if res.Verified {
				names = append(names, res.label(false))
				rss = append(rss, res.Median.RSSPerConn)
				hs = append(hs, res.Median.HeapStackPerConn)
			}
		}
	}
	if len(names) > 0 {
		title := "idle memory per connection (bytes)"
		out = append(out, Chart{File: "memory_per_conn.svg", Title: title, svg: barChart(title, names, rss, hs, colours)})
	}
	return out
}

// seriesOf returns one series per target over the unpinned cases of a
// workload (smallest message size only), x = connections.
func (r *Report) seriesOf(workload string, f func(Metrics) float64) []series {
	size := -1
	for _, c := range r.Cases {
		if c.Workload == workload && !c.Pinned && (size < 0 || c.Size < size) {
			size = c.Size
		}
	}
	byTarget := map[string]*series{}
	var order []string
	for _, c := range r.Cases {
		if c.Workload != workload || c.Pinned || c.Size != size {
			continue
		}
		for _, res := range c.Results {
			v := f(res.Median)
			if !res.Verified || v <= 0 {
				continue
			}
			l := res.label(false)
			s, ok := byTarget[l]
			if !ok {
				s = &series{name: l}
				byTarget[l] = s
				order = append(order, l)
			}
			s.x = append(s.x, float64(c.Conns))
			s.y = append(s.y, v)
		}
	}
	var out []series
	for _, n := range order {
		out = append(out, *byTarget[n])
	}
	return out
}

const (
	chartW, chartH               = 720, 420
	padL, padR, padT, padB       = 80, 170, 40, 50
	plotW, plotH                 = chartW - padL - padR, chartH - padT - padB
	svgHead                      = `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">` + "\n"
	axisStyle, gridStyle, textFn = `stroke="#333"`, `stroke="#ddd"`, "middle"
)

// legendLines splits a legend label that fits no line of the legend
// column: "upoll-echo [wait=block,dispatch=inline]" (a -variants entry)
// becomes the target, then its options a few to a line.
func legendLines(name string) []string {
	target, opts, ok := strings.Cut(name, " [")
	if !ok {
		return []string{name}
	}
	pieces := strings.Split(strings.TrimSuffix(opts, "]"), ",")
	lines := []string{target}
	cur := "["
	for i, o := range pieces {
		if i < len(pieces)-1 {
			o += ","
		} else {
			o += "]"
		}
		if len(cur)+len(o) > legendChars && cur != "[" {
			lines = append(lines, cur)
			cur = ""
		}
		cur += o
	}
	return append(lines, cur)
}

// legendChars is about what the legend column (padR) holds in a line.
const legendChars = 21

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func lineChart(title, xlabel, ylabel string, ss []series, colours map[string]string) string {
	var xs []float64
	ymax := 0.0
	for _, s := range ss {
		xs = append(xs, s.x...)
		for _, y := range s.y {
			ymax = max(ymax, y)
		}
	}
	slices.Sort(xs)
	xs = slices.Compact(xs)
	ymax = niceMax(ymax * 1.05)
	lx0, lx1 := math.Log10(xs[0]), math.Log10(xs[len(xs)-1])
	if lx1 == lx0 {
		lx0, lx1 = lx0-0.5, lx1+0.5
	}
	px := func(x float64) float64 { return padL + (math.Log10(x)-lx0)/(lx1-lx0)*plotW }
	py := func(y float64) float64 { return padT + plotH - y/ymax*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, svgHead, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" text-anchor="middle">%s</text>`+"\n", chartW/2, html.EscapeString(title))
	for i := 0; i <= 5; i++ {
		y := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" %s/>`+"\n", padL, padL+plotW, py(y), py(y), gridStyle)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, py(y)+4, axisNum(y))
	}
	for _, x := range xs {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" %s/>`+"\n", px(x), px(x), padT, padT+plotH, gridStyle)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s">%g</text>`+"\n", px(x), padT+plotH+16, textFn, x)
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" %s/>`+"\n", padL, padL+plotW, padT+plotH, padT+plotH, axisStyle)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" %s/>`+"\n", padL, padL, padT, padT+plotH, axisStyle)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s (log scale)</text>`+"\n", padL+plotW/2, chartH-12, xlabel)
	fmt.Fprintf(&b, `<text transform="translate(16,%d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+plotH/2, html.EscapeString(ylabel))
	ly := padT + 10
	for _, s := range ss {
		col := colours[s.name]
		var pts []string
		for j := range s.x {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.x[j]), py(s.y[j])))
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s %g: %s</title></circle>`+"\n",
				px(s.x[j]), py(s.y[j]), col, s.name, s.x[j], num(s.y[j]))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		lines := legendLines(s.name)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/>`+"\n", padL+plotW+14, ly, col)
		for k, l := range lines {
			fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", padL+plotW+34, ly+6+k*14, html.EscapeString(l))
		}
		ly += 6 + 14*len(lines)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// barChart draws, per target, an RSS bar and a heap+stack bar.
func barChart(title string, names []string, rss, hs []float64, colours map[string]string) string {
	ymax := 0.0
	for i := range names {
		ymax = max(ymax, rss[i], hs[i])
	}
	ymax = niceMax(ymax * 1.05)
	py := func(y float64) float64 { return padT + plotH - y/ymax*plotH }
	var b strings.Builder
	fmt.Fprintf(&b, svgHead, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" text-anchor="middle">%s</text>`+"\n", chartW/2, html.EscapeString(title))
	for i := 0; i <= 5; i++ {
		y := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" %s/>`+"\n", padL, padL+plotW, py(y), py(y), gridStyle)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, py(y)+4, axisBytes(y))
	}
	slot := float64(plotW) / float64(len(names))
	bw := slot * 0.35
	for i, n := range names {
		x0 := padL + slot*float64(i) + slot*0.12
		col := colours[n]
		for k, v := range []float64{rss[i], hs[i]} {
			op := "1"
			if k == 1 {
				op = "0.45"
			}
			x := x0 + float64(k)*bw
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="%s"><title>%s: %s</title></rect>`+"\n",
				x, py(v), bw, float64(padT+plotH)-py(v), col, op, n, bytesNum(v))
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>`+"\n", x+bw/2, py(v)-3, bytesNum(v))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x0+bw, padT+plotH+16, html.EscapeString(n))
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" %s/>`+"\n", padL, padL+plotW, padT+plotH, padT+plotH, axisStyle)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="10" fill="#555"/><text x="%d" y="%d">RSS</text>`+"\n", padL+plotW+14, padT+10, padL+plotW+34, padT+19)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="10" fill="#555" fill-opacity="0.45"/><text x="%d" y="%d">Go heap+stack</text>`+"\n", padL+plotW+14, padT+30, padL+plotW+34, padT+39)
	b.WriteString("</svg>\n")
	return b.String()
}

func axisNum(v float64) string {
	if v == 0 {
		return "0"
	}
	return num(v)
}

func axisBytes(v float64) string {
	if v == 0 {
		return "0"
	}
	return bytesNum(v)
}
