package report

import (
	"fmt"
	"slices"
	"strings"
)

// Goal thresholds the project set itself.
const (
	GoalCPURatioVsStd       = 0.75
	GoalCPURatioVsCloudwego = 1.0
	// GoalUringCPURatioVsStd bounds upoll-uring-echo's CPU per message
	// against std-echo's (the io_uring issue's goal at 1000 conns).
	GoalUringCPURatioVsStd = 0.60
	GoalHTTPRatio          = 0.95
	GoalIdleBytes          = 400
	goalConns              = 1000
	// GoalRPCCPURatio bounds the CPU per call of each of upoll's RPC
	// server and client against the net pair's, and GoalRPCP99Ratio
	// their p99.
	GoalRPCCPURatio = 0.75
	GoalRPCP99Ratio = 1.0
	// The open issues' other goals (issueGoals): upoll-echo below the
	// peers, BackendStd within 10% of the standard library, io_uring at
	// 100 connections, against epoll, in system calls and under
	// net/http.
	GoalPeerRatio        = 1.0
	GoalStdBackendRatio  = 1.10
	GoalUring100Ratio    = 0.65
	GoalUringVsEpoll     = 0.85
	GoalUringCallsPerMsg = 0.3
	GoalUringHTTPRatio   = 1.0
)

// IsFloor reports whether a target is a floor: a measuring stick that makes
// the syscalls of a message and nothing else (what the kernel charges any
// server), not a server to compare with. Floors are named "floor-...".
func IsFloor(target string) bool { return strings.HasPrefix(target, "floor-") }

// floorNote names the floors that ran in the goal's case with their CPU
// per message against std's, and says whether the goal lies below the
// cheapest of them, i.e. out of reach of any server that reads and writes
// each message on this machine. No floor ran: nothing to say.
func floorNote(c *Case, std *Result, threshold float64) string {
	if std == nil || !std.Verified {
		return ""
	}
	var parts []string
	cheapest, cheapestName := Spread{}, ""
	for i := range c.Results {
		f := &c.Results[i]
		if !IsFloor(f.Target) || f.Options != "" || !f.Verified {
			continue
		}
		s := RatioSpread(f, std, cpuPerOp)
		if s.N == 0 {
			continue
		}
		parts = append(parts, f.Target+" "+ratioCell(s))
		if cheapestName == "" || s.Median < cheapest.Median {
			cheapest, cheapestName = s, f.Target
		}
	}
	switch {
	case len(parts) == 0:
		return ""
	case cheapest.Straddles(threshold, "<="):
		return fmt.Sprintf("; floor (the syscalls alone) vs std-echo: %s: the goal lies within the cheapest floor's spread (%s), too close to call",
			strings.Join(parts, ", "), cheapestName)
	case cheapest.Median > threshold:
		return fmt.Sprintf("; floor (the syscalls alone) vs std-echo: %s: the goal is below the floor here (cheapest: %s)",
			strings.Join(parts, ", "), cheapestName)
	case len(parts) > 1:
		return fmt.Sprintf("; floor (the syscalls alone) vs std-echo: %s (cheapest: %s)", strings.Join(parts, ", "), cheapestName)
	}
	return "; floor (the syscalls alone) vs std-echo: " + parts[0]
}

// callsFloorNote gives the io_uring floor's own count of its
// io_uring_enter calls per message in c, when it ran and answered, and
// says whether the goal lies below it: a ping-pong's passes hold as few
// messages as the load generator keeps in flight, so even the floor,
// one enter per pass, may make more calls than the goal allows.
func callsFloorNote(c *Case, threshold float64, calls func(Metrics) float64) string {
	f := c.Find("floor-c-uring")
	if f == nil || !f.Verified || f.Backend != "c-uring" {
		return ""
	}
	s := f.SpreadOf(calls)
	if s.N == 0 || s.Median <= 0 {
		return ""
	}
	cell := figureCell(s, func(v float64) string { return fmt.Sprintf("%.2f", v) })
	switch {
	case s.Straddles(threshold, "<="):
		return fmt.Sprintf("; floor: floor-c-uring's own io_uring_enter calls %s per message: the goal lies within the floor's spread, too close to call", cell)
	case s.Median > threshold:
		return fmt.Sprintf("; floor: floor-c-uring's own io_uring_enter calls %s per message: the goal is below the floor here", cell)
	}
	return fmt.Sprintf("; floor: floor-c-uring's own io_uring_enter calls %s per message", cell)
}

func cpuPerOp(m Metrics) float64     { return m.ServerCPUUSPerOp }
func opsPerSec(m Metrics) float64    { return m.OpsPerSec }
func loadCPUPerOp(m Metrics) float64 { return m.LoadCPUUSPerOp }
func p99(m Metrics) float64          { return m.P99US }

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
	cpuStd := Goal{Name: "upoll-echo server CPU/msg vs std-echo", Op: "<=", Threshold: GoalCPURatioVsStd, Status: StatusNotMeasured}
	cpuCW := Goal{Name: "upoll-echo server CPU/msg vs cloudwego-echo", Op: "<=", Threshold: GoalCPURatioVsCloudwego, Status: StatusNotMeasured}
	if pp == nil {
		cpuStd.Detail = "no echo ping-pong case ran"
		cpuCW.Detail = cpuStd.Detail
	} else {
		up, std, cw := pp.Find("upoll-echo"), pp.Find("std-echo"), pp.Find("cloudwego-echo")
		judge(&cpuStd, RatioSpread(up, std, cpuPerOp), where(pp), up, std)
		judge(&cpuCW, RatioSpread(up, cw, cpuPerOp), where(pp), up, cw)
		cpuStd.Detail += floorNote(pp, std, cpuStd.Threshold)
	}
	gs = append(gs, cpuStd, cpuCW)

	cpuUring := Goal{Name: "upoll-uring-echo server CPU/msg vs std-echo", Op: "<=", Threshold: GoalUringCPURatioVsStd, Status: StatusNotMeasured}
	if pp == nil {
		cpuUring.Detail = "no echo ping-pong case ran"
	} else if ur := pp.Find("upoll-uring-echo"); ur == nil {
		cpuUring.Detail = "upoll-uring-echo did not run (unavailable here, or not asked for)"
	} else {
		std := pp.Find("std-echo")
		judge(&cpuUring, RatioSpread(ur, std, cpuPerOp), where(pp), ur, std)
		cpuUring.Detail += floorNote(pp, std, cpuUring.Threshold)
	}
	gs = append(gs, cpuUring)

	httpMeasured := false
	for i := range cases {
		c := &cases[i]
		if c.Workload != "http" || c.Pinned {
			continue
		}
		httpMeasured = true
		g := Goal{Name: fmt.Sprintf("upoll-http req/s vs std-http @%d conns", c.Conns), Op: ">=", Threshold: GoalHTTPRatio}
		up, std := c.Find("upoll-http"), c.Find("std-http")
		judge(&g, RatioSpread(up, std, opsPerSec), fmt.Sprintf("HTTP keep-alive hello, %d conns", c.Conns), up, std)
		gs = append(gs, g)
	}
	if !httpMeasured {
		gs = append(gs, Goal{Name: "upoll-http req/s vs std-http", Op: ">=", Threshold: GoalHTTPRatio, Detail: "no HTTP case ran", Status: StatusNotMeasured})
	}

	var ic *Case
	for i := range cases {
		if cases[i].Workload == "idle" && cases[i].Kind == "echo" && !cases[i].Pinned {
			ic = &cases[i]
		}
	}
	mem := Goal{Name: "upoll-echo idle memory per connection (bytes)", Op: "<=", Threshold: GoalIdleBytes, Detail: "no idle echo case ran", Status: StatusNotMeasured}
	if ic != nil {
		mem = memGoal(ic)
	}
	gs = append(gs, mem)
	gs = append(gs, rpcGoals(cases)...)
	return append(gs, issueGoals(cases)...)
}

// issueGoals judges the open issues' goals that the rows above do not:
// the default path's CPU at 10 and 100 connections and against nbio and
// gnet, BackendStd against the standard library, io_uring at 100
// connections, against epoll, in system calls per message and under
// net/http. Each is stated at given connection counts and lists only
// where a 64 B ping-pong (or HTTP) case at that count ran with the
// target it judges, so a partial run shows no rows of "not measured".
func issueGoals(cases []Case) []Goal {
	var gs []Goal
	// ratio judges target against base in c, if target ran there.
	ratio := func(name, op string, thr float64, c *Case, target, base string, f func(Metrics) float64) *Goal {
		up := c.Find(target)
		if up == nil {
			return nil
		}
		where := fmt.Sprintf("echo ping-pong, %d conns, %d B", c.Conns, c.Size)
		if c.Workload == "http" {
			where = fmt.Sprintf("HTTP keep-alive hello, %d conns", c.Conns)
		}
		g := Goal{Name: fmt.Sprintf("%s @%d conns", name, c.Conns), Op: op, Threshold: thr}
		b := c.Find(base)
		judge(&g, RatioSpread(up, b, f), where, up, b)
		gs = append(gs, g)
		return &gs[len(gs)-1]
	}
	echo := func(conns int) *Case { return exactCase(cases, "pingpong", conns, 64) }
	for _, n := range []int{10, 100} {
		if c := echo(n); c != nil {
			if g := ratio("upoll-echo server CPU/msg vs std-echo", "<=", GoalCPURatioVsStd, c, "upoll-echo", "std-echo", cpuPerOp); g != nil {
				g.Detail += floorNote(c, c.Find("std-echo"), g.Threshold)
			}
		}
	}
	for _, n := range []int{10, 100, 1000} {
		if c := echo(n); c != nil {
			for _, peer := range []string{"nbio-echo", "gnet-echo"} {
				if c.Find(peer) != nil {
					ratio("upoll-echo server CPU/msg vs "+peer, "<=", GoalPeerRatio, c, "upoll-echo", peer, cpuPerOp)
				}
			}
		}
	}
	for _, n := range []int{100, 1000} {
		if c := echo(n); c != nil {
			ratio("upoll-std-echo server CPU/msg vs std-echo", "<=", GoalStdBackendRatio, c, "upoll-std-echo", "std-echo", cpuPerOp)
		}
	}
	if c := echo(100); c != nil {
		if g := ratio("upoll-uring-echo server CPU/msg vs std-echo", "<=", GoalUring100Ratio, c, "upoll-uring-echo", "std-echo", cpuPerOp); g != nil {
			g.Detail += floorNote(c, c.Find("std-echo"), g.Threshold)
		}
	}
	for _, n := range []int{100, 1000} {
		if c := echo(n); c != nil && c.Find("upoll-echo") != nil {
			ratio("upoll-uring-echo server CPU/msg vs upoll-echo", "<=", GoalUringVsEpoll, c, "upoll-uring-echo", "upoll-echo", cpuPerOp)
		}
	}
	if c := echo(1000); c != nil {
		if ur := c.Find("upoll-uring-echo"); ur != nil {
			g := Goal{Name: "upoll-uring-echo system calls/msg @1000 conns", Op: "<=", Threshold: GoalUringCallsPerMsg, Status: StatusNotMeasured}
			where := "echo ping-pong, 1000 conns, 64 B; upoll's count of its reads, writes and io_uring_enter calls (the runtime's futex and epoll_wait not counted)"
			switch s := ur.SpreadOf(upollCalls); {
			case !ur.Verified:
				g.Detail = where + ": " + missing(ur, "upoll")
			case s.N == 0 || s.Median <= 0:
				g.Detail = where + ": no counters reported"
			default:
				g.setSpread(s)
				g.Detail = where + roundsNote(s.N, "rounds") + callsFloorNote(c, g.Threshold, upollCalls)
			}
			gs = append(gs, g)
		}
	}
	for i := range cases {
		if c := &cases[i]; c.Workload == "http" && !c.Pinned {
			ratio("upoll-uring-http req/s vs upoll-http", ">=", GoalUringHTTPRatio, c, "upoll-uring-http", "upoll-http", opsPerSec)
		}
	}
	return gs
}

// exactCase returns the unpinned case of workload at exactly conns
// connections and size bytes, or nil.
func exactCase(cases []Case, workload string, conns, size int) *Case {
	for i := range cases {
		c := &cases[i]
		if c.Workload == workload && !c.Pinned && c.Conns == conns && c.Size == size {
			return c
		}
	}
	return nil
}

// rpcGoals judges upoll's RPC pair against net's in the rpc case: the
// server's and the client's CPU per call, and p99.
func rpcGoals(cases []Case) []Goal {
	gs := []Goal{
		{Name: "upoll-rpc server CPU/call vs std-rpc", Op: "<=", Threshold: GoalRPCCPURatio},
		{Name: "upoll-rpc client CPU/call vs std-rpc", Op: "<=", Threshold: GoalRPCCPURatio},
		{Name: "upoll-rpc p99 vs std-rpc", Op: "<=", Threshold: GoalRPCP99Ratio},
	}
	figs := []func(Metrics) float64{cpuPerOp, loadCPUPerOp, p99}
	rc := pickCase(cases, "rpc", goalConns)
	for i := range gs {
		g := &gs[i]
		if rc == nil {
			g.Status = StatusNotMeasured
			g.Detail = "no RPC case ran (-workloads rpc, or -suite thorough)"
			continue
		}
		where := fmt.Sprintf("RPC, %d conns x %d in flight, %d B", rc.Conns, rc.Inflight, rc.Size)
		if rc.Conns != goalConns {
			where += fmt.Sprintf(" (goal is stated at %d conns)", goalConns)
		}
		up, std := rc.Find("upoll-rpc"), rc.Find("std-rpc")
		judge(g, RatioSpread(up, std, figs[i]), where, up, std)
	}
	return gs
}

func memGoal(ic *Case) Goal {
	g := Goal{Name: "upoll-echo idle memory per connection (bytes)", Op: "<=", Threshold: GoalIdleBytes, Status: StatusNotMeasured}
	up, std := ic.Find("upoll-echo"), ic.Find("std-echo")
	switch {
	case up == nil:
		g.Detail = "upoll-echo did not run in the idle case"
		return g
	case !up.Verified:
		g.Detail = fmt.Sprintf("idle echo, %d conns: %s", ic.Conns, missing(up, "upoll"))
		return g
	case up.Median.MemPerConn() <= 0:
		g.Detail = fmt.Sprintf("idle echo, %d conns: upoll-echo reported no memory growth", ic.Conns)
		return g
	}
	g.Measured = true
	m := up.Median
	if m.MemMarginal() > 0 {
		// The goal is about what an idle connection costs: judge one more
		// connection, and show the average, which also carries the
		// server's fixed costs, beside it.
		g.setSpread(up.SpreadOf(Metrics.MemMarginal))
		g.Detail = fmt.Sprintf("%d idle conns after one exchange each; max(RSS, heap+stack) growth per conn added from %d to %d conns (RSS %.0f B, heap+stack %.0f B); averaged over all %d: %.0f B (heap alloc alone %.0f B)",
			ic.Conns, ic.Conns/2, ic.Conns, m.RSSMarginal, m.HeapStackMarginal, ic.Conns, m.MemPerConn(), m.HeapAllocPerConn)
	} else {
		g.setSpread(up.SpreadOf(Metrics.MemPerConn))
		g.Detail = fmt.Sprintf("%d idle conns after one exchange each; max(RSS, heap+stack) growth per conn averaged over all (no marginal figure in this report; heap alloc alone %.0f B)", ic.Conns, m.HeapAllocPerConn)
	}
	if std != nil && std.Verified {
		rs := RatioSpread(up, std, Metrics.MemPerConn)
		g.Ratio = rs.Median
		g.Detail += fmt.Sprintf("; std-echo %.0f B/conn, ratio %s", std.Median.MemPerConn(), ratioCell(rs))
	}
	return g
}

// setSpread records a measured figure (Value, or Ratio for a ratio goal)
// with its spread, and judges it.
func (g *Goal) setSpread(s Spread) {
	g.Measured = true
	if goalUnit(g.Name) != "" {
		g.Value = s.Median
	} else {
		g.Ratio = s.Median
	}
	g.Lo, g.Hi, g.Rounds = s.Lo, s.Hi, s.N
	if g.Op == "<=" {
		g.Met = s.Median <= g.Threshold
	} else {
		g.Met = s.Median >= g.Threshold
	}
	switch {
	case s.Straddles(g.Threshold, g.Op):
		g.Status = StatusWithinNoise
	case g.Met:
		g.Status = StatusMet
	default:
		g.Status = StatusNotMet
	}
}

// judge fills a ratio goal.
func judge(g *Goal, ratio Spread, where string, a, b *Result) {
	g.Status = StatusNotMeasured
	switch {
	case a == nil || !a.Verified:
		g.Detail = where + ": " + missing(a, "upoll")
	case b == nil || !b.Verified:
		g.Detail = where + ": reference target did not run or failed"
	case ratio.N == 0:
		g.Detail = where + ": no round with both figures"
	default:
		g.setSpread(ratio)
		g.Detail = where + roundsNote(ratio.N, "per-round ratios")
	}
}

// roundsNote says what a goal's figure is taken from: the median of n
// figures of what with their lowest and highest, or one round's figure.
func roundsNote(n int, what string) string {
	if n == 1 {
		return "; one round"
	}
	return fmt.Sprintf("; median of %d %s (lowest–highest)", n, what)
}

func missing(r *Result, what string) string {
	if r == nil {
		return what + " target did not run"
	}
	return what + " target failed or was not verified"
}

// goalUnit is the unit of a goal that judges a value, not a ratio: "B"
// for memory, "calls" for system calls per message; "" for a ratio.
func goalUnit(name string) string {
	switch {
	case strings.Contains(name, "bytes"):
		return "B"
	case strings.Contains(name, "system calls/msg"):
		return "calls"
	}
	return ""
}
