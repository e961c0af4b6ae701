package report

import (
	"fmt"
	"slices"
)

// Goal thresholds the project set itself.
const (
	GoalCPURatioVsStd       = 0.75
	GoalCPURatioVsCloudwego = 1.0
	GoalHTTPRatio           = 0.95
	GoalIdleBytes           = 400
	goalConns               = 1000
)

// FloorTarget is the echo target that makes nothing but the syscalls
// (see the server package): what the kernel charges every server.
const FloorTarget = "floor-echo"

// floorNote says where the floor stood against std in the goal's case,
// and whether the CPU goal is below it, i.e. out of reach of any server
// that reads and writes each message on this machine.
func floorNote(floor, std *Result, threshold float64) string {
	if floor == nil || !floor.Verified || std == nil || !std.Verified {
		return ""
	}
	r := RoundRatio(floor, std, cpuPerOp)
	if r <= 0 {
		return ""
	}
	s := fmt.Sprintf("; %s (the syscalls alone) %.3fx", FloorTarget, r)
	if r > threshold {
		s += ": the goal is below the floor here"
	}
	return s
}

// RoundRatio is the median over rounds of f(a)/f(b), pairing runs of the
// same round; 0 when no round has both.
func RoundRatio(a, b *Result, f func(Metrics) float64) float64 {
	if a == nil || b == nil {
		return 0
	}
	byRound := map[int]float64{}
	for _, r := range b.Runs {
		if r.Verified && r.Error == "" && f(r.Metrics) > 0 {
			byRound[r.Round] = f(r.Metrics)
		}
	}
	var xs []float64
	for _, r := range a.Runs {
		if v, ok := byRound[r.Round]; ok && r.Verified && r.Error == "" && f(r.Metrics) > 0 {
			xs = append(xs, f(r.Metrics)/v)
		}
	}
	return Median(xs)
}

func cpuPerOp(m Metrics) float64  { return m.ServerCPUUSPerOp }
func opsPerSec(m Metrics) float64 { return m.OpsPerSec }

// pickCase returns the unpinned case of workload with the given conns (or the
// one with the most connections, if none), preferring the smallest size.
func pickCase(cases []Case, workload string, conns int) *Case {
	var cands []*Case
	for i := range cases {
		if cases[i].Workload == workload && !cases[i].Pinned {
			cands = append(cands, &cases[i])
		}
	}
	if len(cands) == 0 {
		return nil
	}
	slices.SortStableFunc(cands, func(a, b *Case) int {
		da, db := abs(a.Conns-conns), abs(b.Conns-conns)
		if da != db {
			return da - db
		}
		return a.Size - b.Size
	})
	return cands[0]
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Goals evaluates the project's goals on the measured cases. Every goal is
// listed, measured or not.
func Goals(cases []Case) []Goal {
	var gs []Goal
	pp := pickCase(cases, "pingpong", goalConns)
	where := func(c *Case) string {
		s := fmt.Sprintf("echo ping-pong, %d conns, %d B", c.Conns, c.Size)
		if c.Conns != goalConns {
			s += fmt.Sprintf(" (goal is stated at %d conns; run with -conns %d)", goalConns, goalConns)
		}
		return s
	}
	cpuStd := Goal{Name: "upoll-echo server CPU/msg vs std-echo", Op: "<=", Threshold: GoalCPURatioVsStd}
	cpuCW := Goal{Name: "upoll-echo server CPU/msg vs cloudwego-echo", Op: "<=", Threshold: GoalCPURatioVsCloudwego}
	if pp == nil {
		cpuStd.Detail = "no echo ping-pong case ran"
		cpuCW.Detail = cpuStd.Detail
	} else {
		up, std, cw := pp.Find("upoll-echo"), pp.Find("std-echo"), pp.Find("cloudwego-echo")
		judge(&cpuStd, RoundRatio(up, std, cpuPerOp), where(pp), up, std)
		judge(&cpuCW, RoundRatio(up, cw, cpuPerOp), where(pp), up, cw)
		cpuStd.Detail += floorNote(pp.Find(FloorTarget), std, cpuStd.Threshold)
	}
	gs = append(gs, cpuStd, cpuCW)

	httpMeasured := false
	for i := range cases {
		c := &cases[i]
		if c.Workload != "http" || c.Pinned {
			continue
		}
		httpMeasured = true
		g := Goal{Name: fmt.Sprintf("upoll-http req/s vs std-http @%d conns", c.Conns), Op: ">=", Threshold: GoalHTTPRatio}
		up, std := c.Find("upoll-http"), c.Find("std-http")
		judge(&g, RoundRatio(up, std, opsPerSec), fmt.Sprintf("HTTP keep-alive hello, %d conns", c.Conns), up, std)
		gs = append(gs, g)
	}
	if !httpMeasured {
		gs = append(gs, Goal{Name: "upoll-http req/s vs std-http", Op: ">=", Threshold: GoalHTTPRatio, Detail: "no HTTP case ran"})
	}

	var ic *Case
	for i := range cases {
		if cases[i].Workload == "idle" && cases[i].Kind == "echo" && !cases[i].Pinned {
			ic = &cases[i]
		}
	}
	mem := Goal{Name: "upoll-echo idle memory per connection (bytes)", Op: "<=", Threshold: GoalIdleBytes, Detail: "no idle echo case ran"}
	if ic != nil {
		mem = memGoal(ic)
	}
	gs = append(gs, mem)
	return gs
}

func memGoal(ic *Case) Goal {
	g := Goal{Name: "upoll-echo idle memory per connection (bytes)", Op: "<=", Threshold: GoalIdleBytes}
	up, std := ic.Find("upoll-echo"), ic.Find("std-echo")
	if up == nil || !up.Verified || up.Median.MemPerConn() <= 0 {
		g.Detail = "upoll-echo did not run in the idle case"
		return g
	}
	g.Measured = true
	m := up.Median
	if m.MemMarginal() > 0 {
		// The goal is about what an idle connection costs: judge one more
		// connection, and show the average, which also carries the
		// server's fixed costs, beside it.
		g.Value = m.MemMarginal()
		g.Detail = fmt.Sprintf("%d idle conns after one exchange each; max(RSS, heap+stack) growth per conn added from %d to %d conns (RSS %.0f B, heap+stack %.0f B); averaged over all %d: %.0f B (heap alloc alone %.0f B)",
			ic.Conns, ic.Conns/2, ic.Conns, m.RSSMarginal, m.HeapStackMarginal, ic.Conns, m.MemPerConn(), m.HeapAllocPerConn)
	} else {
		g.Value = m.MemPerConn()
		g.Detail = fmt.Sprintf("%d idle conns after one exchange each; max(RSS, heap+stack) growth per conn averaged over all (no marginal figure in this report; heap alloc alone %.0f B)", ic.Conns, m.HeapAllocPerConn)
	}
	g.Met = g.Value <= g.Threshold
	if std != nil && std.Verified {
		g.Ratio = RoundRatio(up, std, func(m Metrics) float64 { return m.MemPerConn() })
		g.Detail += fmt.Sprintf("; std-echo %.0f B/conn, ratio %.3f", std.Median.MemPerConn(), g.Ratio)
	}
	return g
}

// judge fills a ratio goal.
func judge(g *Goal, ratio float64, where string, a, b *Result) {
	switch {
	case a == nil || !a.Verified:
		g.Detail = where + ": " + missing(a, "upoll")
	case b == nil || !b.Verified:
		g.Detail = where + ": reference target did not run or failed"
	case ratio <= 0:
		g.Detail = where + ": no round with both figures"
	default:
		g.Measured = true
		g.Ratio = ratio
		if g.Op == "<=" {
			g.Met = ratio <= g.Threshold
		} else {
			g.Met = ratio >= g.Threshold
		}
		g.Detail = where + "; median of per-round ratios"
	}
}

func missing(r *Result, what string) string {
	if r == nil {
		return what + " target did not run"
	}
	return what + " target failed or was not verified"
}
