package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"regexp"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart is one SVG file of the report.
type Chart struct {
	File  string `json:"file"`
	Title string `json:"title"`
	svg   []byte
}

// palette gives each target a fixed colour across charts (Tableau 10).
var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff},
	{0xff, 0x7f, 0x0e, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x17, 0xbe, 0xcf, 0xff},
	{0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
}

// Chart geometry, in points.
const (
	chartW      = 720
	chartH      = 400
	legendGap   = 12
	titleSize   = 14
	labelSize   = 11
	legendSize  = 10
	memRowH     = 26
	memMinH     = 260
	chartMargin = 8
)

// series is one target's figure against connections, with the lowest and
// highest of the rounds at each point.
type series struct {
	name   string
	x, y   []float64
	lo, hi []float64
	style  int // colour and marker: the same for a target in every chart
}

// BuildCharts builds the report's charts: throughput, p99 and server CPU per
// operation against connections (echo ping-pong and HTTP), and idle memory
// per connection. A chart that cannot be drawn is left out.
func (r *Report) BuildCharts() []Chart {
	var out []Chart
	// Styles are numbered within a kind, so that std-echo and std-http,
	// upoll-echo and upoll-http look alike.
	styles, perKind := map[string]int{}, map[string]int{}
	for _, t := range r.Targets {
		styles[t.Name] = perKind[t.Kind]
		perKind[t.Kind]++
	}
	for _, c := range r.Cases { // -variants: a style for each configuration
		for _, res := range c.Results {
			if l := res.label(false); !hasKey(styles, l) {
				styles[l] = perKind[c.Kind]
				perKind[c.Kind]++
			}
		}
	}
	for _, w := range []struct{ workload, label, unit string }{{"pingpong", "echo ping-pong", "msg"}, {"http", "HTTP keep-alive", "req"}} {
		metrics := []struct {
			file, title, ylabel string
			f                   func(Metrics) float64
			logY                bool
		}{
			{"throughput", "throughput vs connections", w.unit + "/s", opsPerSec, false},
			{"p99", "p99 latency vs connections", "p99 latency, µs (log scale)", func(m Metrics) float64 { return m.P99US }, true},
			{"cpu", "server CPU per " + w.unit + " vs connections", "server CPU µs per " + w.unit, cpuPerOp, false},
		}
		for _, m := range metrics {
			ss := r.seriesOf(w.workload, m.f, styles)
			if len(ss) == 0 {
				continue
			}
			title := fmt.Sprintf("%s: %s", w.label, m.title)
			if svg := lineChart(title, m.ylabel, ss, m.logY); svg != nil {
				out = append(out, Chart{File: fmt.Sprintf("%s_%s.svg", m.file, w.workload), Title: title, svg: svg})
			}
		}
	}
	if rows := r.memRows(); len(rows) > 0 {
		title := "idle memory per connection (bytes, log scale)"
		if svg := memChart(title, rows); svg != nil {
			out = append(out, Chart{File: "memory_per_conn.svg", Title: title, svg: svg})
		}
	}
	return out
}

// seriesOf returns one series per target over the unpinned cases of a
// workload (smallest message size only), x = connections.
func (r *Report) seriesOf(workload string, f func(Metrics) float64, styles map[string]int) []series {
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
		for i := range c.Results {
			res := &c.Results[i]
			s := res.SpreadOf(f)
			if !res.Verified || s.N == 0 {
				continue
			}
			l := res.label(false)
			ser, ok := byTarget[l]
			if !ok {
				ser = &series{name: l, style: styles[l]}
				byTarget[l] = ser
				order = append(order, l)
			}
			ser.x = append(ser.x, float64(c.Conns))
			ser.y = append(ser.y, s.Median)
			ser.lo = append(ser.lo, s.Lo)
			ser.hi = append(ser.hi, s.Hi)
		}
	}
	var out []series
	for _, n := range order {
		out = append(out, *byTarget[n])
	}
	return out
}

// errPoints are a series' points with their spread, for plotter.
type errPoints struct{ s *series }

func (e errPoints) Len() int                    { return len(e.s.x) }
func (e errPoints) XY(i int) (float64, float64) { return e.s.x[i], e.s.y[i] }
func (e errPoints) YError(i int) (float64, float64) {
	return e.s.y[i] - e.s.lo[i], e.s.hi[i] - e.s.y[i]
}

// newPlot is a plot with the report's fonts.
func newPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = sans(titleSize)
	p.Title.Padding = vg.Points(8)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = sans(labelSize)
		a.Tick.Label.Font = sans(labelSize - 1)
	}
	p.Add(plotter.NewGrid())
	return p
}

// sans is the charts' font: Liberation Sans, whose metrics (which place
// every label) are those of Arial and Helvetica, the fallbacks svgFonts names.
func sans(size float64) font.Font {
	return font.Font{Typeface: "Liberation", Variant: "Sans", Size: vg.Points(size)}
}

// newLegend is a legend in the charts' font, entries spaced apart.
func newLegend() plot.Legend {
	l := plot.NewLegend()
	l.TextStyle.Font = sans(legendSize)
	l.Top, l.Left = true, true
	l.Padding = vg.Points(4)
	return l
}

// lineChart draws each series against connections on a log axis, with the
// spread of the rounds as an error bar on every point, and the legend to
// the right of the plot so that it never covers a line.
func lineChart(title, ylabel string, ss []series, logY bool) []byte {
	p := newPlot(title)
	p.X.Label.Text = "connections (log scale)"
	p.Y.Label.Text = ylabel
	var xs []float64
	ylo, yhi := math.Inf(1), 0.0
	legend := newLegend()
	for i := range ss {
		s := &ss[i]
		xs = append(xs, s.x...)
		// Series side by side at each connection count, a little apart,
		// so that error bars of equal figures do not hide each other.
		dodge := math.Pow(10, (float64(i)-float64(len(ss)-1)/2)*0.008)
		for j := range s.x {
			s.x[j] *= dodge
		}
		for j := range s.y {
			ylo, yhi = min(ylo, s.lo[j]), max(yhi, s.hi[j])
		}
		pts := errPoints{s}
		line, scatter, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		colour := palette[s.style%len(palette)]
		line.Color, line.Width = colour, vg.Points(1.5)
		scatter.Color, scatter.Shape, scatter.Radius = colour, markerShape(s.style), vg.Points(3)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			continue
		}
		bars.Color, bars.Width, bars.CapWidth = colour, vg.Points(1), vg.Points(6)
		p.Add(line, scatter, bars)
		addEntry(&legend, s.name, line, scatter)
	}
	xmin, xmax := minMax(xs)
	p.X.Scale = plot.LogScale{}
	p.X.Min, p.X.Max = xmin/1.6, xmax*1.6
	p.X.Tick.Marker = connTicks(xs)
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Min, p.Y.Max = ylo/1.25, yhi*1.25
		p.Y.Tick.Marker = logTicks{tickNum}
	} else {
		p.Y.Min, p.Y.Max = 0, yhi*1.08
		p.Y.Tick.Marker = linTicks{tickNum}
	}
	return render(p, &legend, chartH)
}

// memRow is one target's idle memory: the average over all idle
// connections and the cost of one more, each with its rounds' spread.
type memRow struct {
	name          string
	avg, marginal Spread
}

func (r *Report) memRows() []memRow {
	var rows []memRow
	for _, c := range r.Cases {
		if c.Workload != "idle" || c.Pinned {
			continue
		}
		for i := range c.Results {
			res := &c.Results[i]
			row := memRow{name: res.label(false), avg: res.SpreadOf(Metrics.MemPerConn), marginal: res.SpreadOf(Metrics.MemMarginal)}
			if res.Verified && (row.avg.N > 0 || row.marginal.N > 0) {
				rows = append(rows, row)
			}
		}
	}
	return rows
}

// memPoints place one figure of each row on a nominal y axis (first row at
// the top), shifted by off so that a row's two figures do not overlap.
type memPoints struct {
	rows []memRow
	pick func(memRow) Spread
	off  float64
	idx  []int
}

func newMemPoints(rows []memRow, pick func(memRow) Spread, off float64) memPoints {
	m := memPoints{rows: rows, pick: pick, off: off}
	for i, r := range rows {
		if pick(r).N > 0 {
			m.idx = append(m.idx, i)
		}
	}
	return m
}

func (m memPoints) Len() int { return len(m.idx) }
func (m memPoints) XY(i int) (float64, float64) {
	k := m.idx[i]
	return m.pick(m.rows[k]).Median, float64(len(m.rows)-1-k) + m.off
}
func (m memPoints) XError(i int) (float64, float64) {
	s := m.pick(m.rows[m.idx[i]])
	return s.Median - s.Lo, s.Hi - s.Median
}

// memChart draws idle memory per connection on a log axis, one row per
// target (names written horizontally, so they cannot run into each other),
// with the goal as a vertical line.
func memChart(title string, rows []memRow) []byte {
	p := newPlot(title)
	p.X.Label.Text = "bytes per idle connection (log scale)"
	names := make([]string, len(rows))
	lo, hi := float64(GoalIdleBytes), float64(GoalIdleBytes)
	for i, r := range rows {
		names[len(rows)-1-i] = r.name
		for _, s := range []Spread{r.avg, r.marginal} {
			if s.N > 0 {
				lo, hi = min(lo, s.Lo), max(hi, s.Hi)
			}
		}
	}
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.6, float64(len(rows))-0.4
	p.X.Scale = plot.LogScale{}
	p.X.Min, p.X.Max = lo/1.5, hi*1.5
	p.X.Tick.Marker = logTicks{tickBytes}
	legend := newLegend()
	for k, f := range []struct {
		name string
		pick func(memRow) Spread
		off  float64
	}{
		{"per added conn (the goal's figure)", func(r memRow) Spread { return r.marginal }, 0.12},
		{"average over all conns", func(r memRow) Spread { return r.avg }, -0.12},
	} {
		pts := newMemPoints(rows, f.pick, f.off)
		if pts.Len() == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			continue
		}
		sc.Color, sc.Shape, sc.Radius = palette[k], markerShape(k), vg.Points(3.5)
		bars, err := plotter.NewXErrorBars(pts)
		if err != nil {
			continue
		}
		bars.Color, bars.Width, bars.CapWidth = palette[k], vg.Points(1), vg.Points(6)
		p.Add(sc, bars)
		legend.Add(f.name, sc)
	}
	goal, err := plotter.NewLine(plotter.XYs{{X: GoalIdleBytes, Y: p.Y.Min}, {X: GoalIdleBytes, Y: p.Y.Max}})
	if err == nil {
		goal.Color, goal.Width, goal.Dashes = palette[2], vg.Points(1.5), []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(goal)
		legend.Add(fmt.Sprintf("goal: upoll-echo <= %d B", GoalIdleBytes), goal)
	}
	return render(p, &legend, max(memMinH, 90+memRowH*len(rows)))
}

// legendChars is the longest legend line; a longer name (a -variants
// entry) goes on over more lines, so that the plot keeps its width.
const legendChars = 28

// addEntry adds name to the legend, broken after commas into lines of at
// most legendChars, the thumbnails beside the first.
func addEntry(l *plot.Legend, name string, thumbs ...plot.Thumbnailer) {
	for i, line := range wrapText(name, legendChars) {
		if i == 0 {
			l.Add(line, thumbs...)
			continue
		}
		l.Add("  " + line)
	}
}

// render draws p with legend beside it, on the right, into an SVG document.
func render(p *plot.Plot, legend *plot.Legend, h int) []byte {
	lw := legendWidth(legend)
	c := vgsvg.New(vg.Points(chartW), vg.Points(float64(h)))
	dc := draw.New(c)
	dc = draw.Crop(dc, chartMargin, -chartMargin, chartMargin, -chartMargin)
	p.Draw(draw.Crop(dc, 0, -(lw + legendGap), 0, 0))
	// The legend starts below the title, level with the top of the data.
	top := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding + vg.Points(4)
	legend.Draw(draw.Crop(dc, dc.Size().X-lw, 0, 0, -top))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return nil
	}
	return svgFonts.ReplaceAll(b.Bytes(), []byte("font-family:Liberation Sans,Arial,Helvetica,sans-serif;"))
}

// svgFonts is how vgsvg names the font: without fallbacks, which a viewer
// lacking Liberation Sans would replace with its default (often a serif).
var svgFonts = regexp.MustCompile(`font-family:Liberation Sans;`)

// legendWidth is the room the legend's longest entry needs.
func legendWidth(l *plot.Legend) vg.Length {
	r := l.Rectangle(draw.Canvas{Rectangle: vg.Rectangle{Max: vg.Point{X: 1000, Y: 1000}}})
	return r.Size().X + vg.Points(4)
}

func markerShape(i int) draw.GlyphDrawer {
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.PyramidGlyph{},
		draw.RingGlyph{}, draw.BoxGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}
	return shapes[i%len(shapes)]
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// connTicks labels the connection counts that were measured, and nothing
// else: a log axis between 10 and 1000 needs no 20, 50, 200, 500. A count
// too close to the one labelled before it to leave room for its label
// keeps an unlabelled tick.
func connTicks(xs []float64) plot.Ticker {
	uniq := slices.Clone(xs)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	return plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		span := math.Log10(hi / lo)
		last := math.Inf(-1)
		var ts []plot.Tick
		for _, x := range uniq {
			tk := plot.Tick{Value: x}
			label := fmt.Sprintf("%g", x)
			// The data area is at least minPlotW wide; a tick label takes
			// about 6 points a digit, and a gap.
			if math.Log10(x)-last >= span*(6*float64(len(label))+8)/minPlotW {
				tk.Label, last = label, math.Log10(x)
			}
			ts = append(ts, tk)
		}
		return ts
	})
}

// minPlotW is the narrowest a line chart's data area gets (points): the
// chart's width less the y axis and the widest legend addEntry allows.
const minPlotW = 400

// linTicks put 4 to 8 labelled ticks at a round step (1, 2, 2.5 or 5
// times a power of ten), with a minor tick between each two.
type linTicks struct{ format func(float64) string }

// Ticks implements plot.Ticker.
func (t linTicks) Ticks(lo, hi float64) []plot.Tick {
	span := hi - lo
	if span <= 0 {
		return []plot.Tick{{Value: lo, Label: t.format(lo)}}
	}
	p := math.Pow(10, math.Floor(math.Log10(span/4)))
	step := 10 * p
	for _, m := range []float64{1, 2, 2.5, 5} {
		if span/(m*p) <= 8 {
			step = m * p
			break
		}
	}
	var ts []plot.Tick
	for i := math.Ceil(lo / step * 2); i*step/2 <= hi; i++ {
		v := i * step / 2
		tk := plot.Tick{Value: v}
		if int(i)%2 == 0 {
			tk.Label = t.format(v)
		}
		ts = append(ts, tk)
	}
	return ts
}

// logTicks label 1, 2 and 5 times each power of ten in range; over more
// than three decades only the powers of ten, and where that labels fewer
// than two ticks, every integer multiple. Minor ticks mark the other
// multiples.
type logTicks struct{ format func(float64) string }

// maxLogLabels keeps the labels of a log axis from crowding.
const maxLogLabels = 8

// Ticks implements plot.Ticker.
func (t logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, labelled := range [][]float64{{1, 2, 5}, {1}, {1, 2, 3, 4, 5, 6, 7, 8, 9}} {
		ts = ts[:0]
		n := 0
		for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
			p := math.Pow(10, e)
			for m := 1.0; m < 10; m++ {
				v := m * p
				if v < lo || v > hi {
					continue
				}
				tk := plot.Tick{Value: v}
				if slices.Contains(labelled, m) {
					tk.Label = t.format(v)
					n++
				}
				ts = append(ts, tk)
			}
		}
		if n >= 2 && n <= maxLogLabels || len(labelled) == 1 && n >= 2 {
			break
		}
	}
	return ts
}

// tickNum labels an axis tick: 0.5, 20, 150k, 1.2M.
func tickNum(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", round3(v/1e6))
	case v >= 1e3:
		return fmt.Sprintf("%gk", round3(v/1e3))
	}
	return fmt.Sprintf("%g", round3(v))
}

// tickBytes labels a tick of a byte axis in SI units, as the tables do.
func tickBytes(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%g MB", round3(v/1e6))
	case v >= 1e3:
		return fmt.Sprintf("%g kB", round3(v/1e3))
	}
	return fmt.Sprintf("%g B", round3(v))
}

// round3 drops the float noise of tick arithmetic (0.30000000000000004).
func round3(v float64) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, 3-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}
