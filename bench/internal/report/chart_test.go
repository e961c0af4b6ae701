package report

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
)

// affine is the SVG matrix (a b c d e f): x' = a x + c y + e, y' = b x + d y + f.
type affine [6]float64

var identity = affine{1, 0, 0, 1, 0, 0}

// then returns m applied after n (the matrix of transform="m n").
func (m affine) then(n affine) affine {
	return affine{
		m[0]*n[0] + m[2]*n[1], m[1]*n[0] + m[3]*n[1],
		m[0]*n[2] + m[2]*n[3], m[1]*n[2] + m[3]*n[3],
		m[0]*n[4] + m[2]*n[5] + m[4], m[1]*n[4] + m[3]*n[5] + m[5],
	}
}

func (m affine) apply(x, y float64) (float64, float64) {
	return m[0]*x + m[2]*y + m[4], m[1]*x + m[3]*y + m[5]
}

var transformRE = regexp.MustCompile(`(\w+)\(([^)]*)\)`)

// parseTransform reads the translate, scale and rotate of an SVG
// transform attribute (what vgsvg writes).
func parseTransform(s string) (affine, error) {
	m := identity
	for _, op := range transformRE.FindAllStringSubmatch(s, -1) {
		var args []float64
		for f := range strings.FieldsFuncSeq(op[2], func(r rune) bool { return r == ',' || r == ' ' }) {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return m, fmt.Errorf("transform %q: %w", s, err)
			}
			args = append(args, v)
		}
		var n affine
		switch {
		case op[1] == "translate" && len(args) == 2:
			n = affine{1, 0, 0, 1, args[0], args[1]}
		case op[1] == "scale" && len(args) == 2:
			n = affine{args[0], 0, 0, args[1], 0, 0}
		case op[1] == "rotate" && len(args) == 1:
			r := args[0] * math.Pi / 180
			n = affine{math.Cos(r), math.Sin(r), -math.Sin(r), math.Cos(r), 0, 0}
		default:
			return m, fmt.Errorf("transform %q: %s with %d arguments", s, op[1], len(args))
		}
		m = m.then(n)
	}
	return m, nil
}

// labelBox is where a text of a chart lies on the page.
type labelBox struct {
	text                   string
	minX, minY, maxX, maxY float64
}

func (a labelBox) intersects(b labelBox) bool {
	const slack = 0.25 // points: boxes that only touch do not collide
	return a.minX < b.maxX-slack && b.minX < a.maxX-slack && a.minY < b.maxY-slack && b.minY < a.maxY-slack
}

var fontSizeRE = regexp.MustCompile(`font-size:([0-9.]+)px`)

// labelBoxes parses an SVG chart and returns the box of every text in it,
// measured with the metrics of the font the chart was laid out with.
func labelBoxes(svg []byte) ([]labelBox, error) {
	d := xml.NewDecoder(bytes.NewReader(svg))
	stack := []affine{identity}
	var boxes []labelBox
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return boxes, nil
		}
		if err != nil {
			return nil, err
		}
		switch e := tok.(type) {
		case xml.StartElement:
			m := stack[len(stack)-1]
			attr := map[string]string{}
			for _, a := range e.Attr {
				attr[a.Name.Local] = a.Value
			}
			t, err := parseTransform(attr["transform"])
			if err != nil {
				return nil, err
			}
			m = m.then(t)
			stack = append(stack, m)
			if e.Name.Local != "text" {
				continue
			}
			var content string
			if err := d.DecodeElement(&content, &e); err != nil {
				return nil, err
			}
			stack = stack[:len(stack)-1] // DecodeElement consumed the end
			x, _ := strconv.ParseFloat(attr["x"], 64)
			y, _ := strconv.ParseFloat(attr["y"], 64)
			sz := fontSizeRE.FindStringSubmatch(attr["style"])
			if sz == nil {
				return nil, fmt.Errorf("text %q has no font size", content)
			}
			size, _ := strconv.ParseFloat(sz[1], 64)
			face := font.DefaultCache.Lookup(sans(size), vg.Points(size))
			w := face.Width(content).Points()
			ext := face.Extents()
			// In the text's own coordinates y grows downwards from the baseline.
			b := labelBox{text: content, minX: math.Inf(1), minY: math.Inf(1), maxX: math.Inf(-1), maxY: math.Inf(-1)}
			for _, c := range [][2]float64{{x, y - ext.Ascent.Points()}, {x + w, y - ext.Ascent.Points()},
				{x, y + ext.Descent.Points()}, {x + w, y + ext.Descent.Points()}} {
				px, py := m.apply(c[0], c[1])
				b.minX, b.maxX = min(b.minX, px), max(b.maxX, px)
				b.minY, b.maxY = min(b.minY, py), max(b.maxY, py)
			}
			boxes = append(boxes, b)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
}

// overlaps returns every pair of texts of an SVG chart whose boxes meet.
func overlaps(t *testing.T, svg []byte) []string {
	t.Helper()
	boxes, err := labelBoxes(svg)
	if err != nil {
		t.Fatalf("chart does not parse as SVG: %v", err)
	}
	if len(boxes) < 4 {
		t.Fatalf("chart has %d texts", len(boxes))
	}
	var out []string
	for i := range boxes {
		for j := i + 1; j < len(boxes); j++ {
			if boxes[i].intersects(boxes[j]) {
				out = append(out, fmt.Sprintf("%q %v and %q %v", boxes[i].text, boxes[i], boxes[j].text, boxes[j]))
			}
		}
	}
	return out
}

// TestChartLabelsApart: no two texts of any chart (titles, axis labels,
// tick labels, legend entries) overlap, for the fixture's charts and for a
// crowded report (five connection counts, long -variants names, many idle
// rows).
func TestChartLabelsApart(t *testing.T) {
	charts := loadFixture(t, "fixture.json").BuildCharts()
	if len(charts) != 7 {
		t.Fatalf("%d charts from the fixture", len(charts))
	}
	more := crowded().BuildCharts()
	if dir := os.Getenv("UPOLL_BENCH_CHARTS"); dir != "" { // to look at them
		for _, ch := range more {
			if err := os.WriteFile(filepath.Join(dir, "crowded_"+ch.File), ch.svg, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	charts = append(charts, more...)
	for _, ch := range charts {
		if err := wellFormed(ch.svg); err != nil {
			t.Errorf("%s: %v", ch.File, err)
		}
		for _, o := range overlaps(t, ch.svg) {
			t.Errorf("%s (%s): labels overlap: %s", ch.File, ch.Title, o)
		}
	}
}

// TestOverlapCheckCatches: x tick labels placed too close to be read are
// reported, so TestChartLabelsApart can fail; and the charts' own ticker
// leaves such a label out.
func TestOverlapCheckCatches(t *testing.T) {
	xs := []float64{1000, 1010, 1020}
	p := newPlot("crowded")
	p.X.Scale = plot.LogScale{}
	p.X.Min, p.X.Max = 500, 2000
	p.X.Tick.Marker = plot.ConstantTicks{{Value: 1000, Label: "1000"}, {Value: 1010, Label: "1010"}, {Value: 1020, Label: "1020"}}
	legend := newLegend()
	o := overlaps(t, render(p, &legend, chartH))
	if len(o) == 0 {
		t.Fatal("x labels 1000, 1010 and 1020 on a log axis are not reported as overlapping")
	}
	if !strings.Contains(o[0], `"1000"`) {
		t.Errorf("overlap reported: %s", o[0])
	}
	ss := []series{{name: "a", x: xs, y: []float64{1, 2, 3}, lo: []float64{1, 2, 3}, hi: []float64{1, 2, 3}}}
	if o := overlaps(t, lineChart("crowded", "y", ss, false)); len(o) != 0 {
		t.Errorf("the chart's ticker lets labels overlap: %v", o)
	}
	labels := 0
	for _, tk := range connTicks(xs).Ticks(1000/1.6, 1020*1.6) {
		if tk.Label != "" {
			labels++
		}
	}
	if labels != 1 {
		t.Errorf("%d of 1000, 1010, 1020 labelled, want 1", labels)
	}
}

// crowded is a report with what makes charts crowded.
func crowded() *Report {
	r := &Report{Schema: Schema, Suite: "full"}
	targets := []string{"std-echo", "upoll-echo", "cloudwego-echo", "gnet-echo", "nbio-echo", "floor-echo", "floor-c"}
	for _, n := range targets {
		r.Targets = append(r.Targets, Target{Name: n, Kind: "echo"})
	}
	for k, conns := range []int{1, 10, 100, 1000, 5000} {
		c := Case{ID: fmt.Sprintf("pingpong/echo/c%d", conns), Workload: "pingpong", Kind: "echo", Conns: conns, Size: 64, Baseline: "std-echo"}
		for i, n := range append(targets, "upoll-echo") {
			res := Result{Target: n}
			if i == len(targets) {
				res.Options = "trigger=et,wait=spin,dispatch=inline,pollers=2"
			}
			for round := range 5 {
				v := float64(1+i) * float64(1+k) * (1 + 0.05*float64(round))
				res.Runs = append(res.Runs, steadyRun(round, 1e4*v, v))
			}
			res.Finish(nil)
			c.Results = append(c.Results, res)
		}
		r.Cases = append(r.Cases, c)
	}
	idle := Case{ID: "idle/echo/c10000", Workload: "idle", Kind: "echo", Conns: 10000, Baseline: "std-echo"}
	for i, n := range append(targets, "upoll-http", "std-http", "fasthttp", "nbio-http", "upoll-echo") {
		res := Result{Target: n}
		if i == len(targets)+4 {
			res.Options = "wait=block,dispatch=inline"
		}
		for round := range 5 {
			v := 300 * math.Pow(1.6, float64(i)) * (1 + 0.1*float64(round))
			res.Runs = append(res.Runs, Run{Round: round, Verified: true, VerifiedBytes: 1, Metrics: Metrics{IdleConns: 10000,
				RSSPerConn: 2 * v, HeapStackPerConn: v, RSSMarginal: v, HeapStackMarginal: 0.8 * v}})
		}
		res.Finish(nil)
		idle.Results = append(idle.Results, res)
	}
	r.Cases = append(r.Cases, idle)
	sw := Case{ID: "sweep/pingpong/echo/c1000/s64", Workload: "pingpong", Kind: "echo", Conns: 1000, Size: 64, Baseline: "std-echo"}
	for i, o := range []string{"", "trigger=oneshot,wait=runtime,dispatch=inline,pollers=2", "trigger=et,wait=block,dispatch=each,pollers=16"} {
		res := Result{Target: "upoll-echo", Options: o}
		if o == "" {
			res.Target = "std-echo"
		}
		for round := range 5 {
			res.Runs = append(res.Runs, steadyRun(round, 1e4*float64(i+1), float64(3+i+round)))
		}
		sw.Results = append(sw.Results, res)
	}
	for i := range sw.Results {
		sw.Results[i].Finish(&sw.Results[0])
	}
	r.Sweep = append(r.Sweep, sw)
	r.Goals = Goals(r.Cases)
	return r
}
