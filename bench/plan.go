package main

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/upoll/upoll/bench/internal/report"
	"github.com/upoll/upoll/bench/internal/server"
)

// entry is one target (with sweep options) taking part in a case.
type entry struct {
	target server.Target
	opts   string
}

// plannedCase is a case with its entries; results[i] belongs to entries[i].
type plannedCase struct {
	report.Case
	entries []entry
}

// withVariants adds, after each sweepable target of es, one entry per
// upoll option set in variants. A set that picks the echo handler applies
// to echo targets only.
func withVariants(es []entry, variants []server.Options) []entry {
	if len(variants) == 0 {
		return es
	}
	var out []entry
	for _, e := range es {
		out = append(out, e)
		if !e.target.Sweepable {
			continue
		}
		for _, o := range variants {
			if o.Echo != "" && e.target.Kind != server.Echo {
				continue
			}
			out = append(out, entry{target: e.target, opts: o.String()})
		}
	}
	return out
}

// plan lists the suite's cases in run order.
func plan(cfg *config, byKind map[server.Kind][]entry) []*plannedCase {
	var cases []*plannedCase
	add := func(kind server.Kind, workload string, conns, size, depth int, pinned bool) {
		es := byKind[kind]
		if len(es) == 0 {
			return
		}
		c := &plannedCase{entries: es}
		c.Workload, c.Kind, c.Conns, c.Size, c.Pipeline, c.Pinned = workload, string(kind), conns, size, depth, pinned
		c.ID = caseID(workload, kind, conns, size, depth, pinned)
		for _, e := range es {
			c.Results = append(c.Results, report.Result{Target: e.target.Name, Options: e.opts})
			if e.target.Baseline {
				c.Baseline = e.target.Name
			}
		}
		cases = append(cases, c)
	}
	pins := []bool{false}
	switch cfg.pin {
	case "on":
		pins = []bool{true}
	case "both":
		pins = []bool{false, true}
	}
	for _, w := range cfg.workloads {
		for _, pinned := range pins {
			switch w {
			case "pingpong":
				for _, size := range cfg.sizes {
					for _, n := range cfg.conns {
						add(server.Echo, w, n, size, 1, pinned)
					}
				}
			case "pipeline":
				add(server.Echo, w, cfg.pipeConns, cfg.sizes[0], cfg.pipeline, pinned)
			case "http":
				for _, n := range cfg.httpConns {
					add(server.HTTP, w, n, 0, 1, pinned)
				}
			}
		}
		switch w {
		case "idle":
			add(server.Echo, w, cfg.idleConns, cfg.sizes[0], 1, false)
			add(server.HTTP, w, cfg.idleConns, 0, 1, false)
		case "churn":
			add(server.Echo, w, cfg.churnConns, cfg.sizes[0], 1, false)
		case "mixed":
			n := len(cases)
			add(server.Echo, w, cfg.mixedConns, cfg.sizes[0], 1, false)
			if len(cases) > n {
				cases[n].ID += fmt.Sprintf("/idle%d", cfg.mixedIdle)
			}
		case "rpc":
			n := len(cases)
			add(server.RPC, w, cfg.rpcConns, cfg.sizes[0], 1, false)
			if len(cases) > n {
				cases[n].Inflight = rpcInflight
				cases[n].ID += fmt.Sprintf("/i%d", rpcInflight)
			}
		}
	}
	return cases
}

func caseID(workload string, kind server.Kind, conns, size, depth int, pinned bool) string {
	id := fmt.Sprintf("%s/%s/c%d", workload, kind, conns)
	if size > 0 {
		id += fmt.Sprintf("/s%d", size)
	}
	if depth > 1 {
		id += fmt.Sprintf("/d%d", depth)
	}
	if pinned {
		id += "/pinned"
	}
	return id
}

// planSweep builds the -sweep cases: std-echo as the reference, and
// upoll-echo at every point of the option grid.
func planSweep(cfg *config, notes []string) ([]*plannedCase, []string) {
	up, ok := server.Lookup("upoll-echo")
	std, _ := server.Lookup("std-echo")
	if !ok || up.Available() != nil {
		return nil, append(notes, "-sweep skipped: upoll-echo is not available in this build")
	}
	pollers := []int{1, 2}
	if n := runtime.NumCPU(); n > 2 {
		pollers = append(pollers, n)
	}
	var cases []*plannedCase
	for _, n := range cfg.sweepConns {
		c := &plannedCase{}
		c.Workload, c.Kind, c.Conns, c.Size, c.Pipeline, c.Baseline = "pingpong", string(server.Echo), n, cfg.sizes[0], 1, std.Name
		c.ID = "sweep/" + caseID("pingpong", server.Echo, n, cfg.sizes[0], 1, false)
		c.entries = append(c.entries, entry{target: std})
		for _, o := range server.SweepGrid(pollers) {
			c.entries = append(c.entries, entry{target: up, opts: o.String()})
		}
		for _, e := range c.entries {
			c.Results = append(c.Results, report.Result{Target: e.target.Name, Options: e.opts})
		}
		cases = append(cases, c)
	}
	return cases, notes
}

func finish(cases []*plannedCase) []report.Case {
	var out []report.Case
	for _, c := range cases {
		var base *report.Result
		for i := range c.Results {
			if c.Results[i].Target == c.Baseline && c.Results[i].Options == "" {
				base = &c.Results[i]
			}
		}
		for i := range c.Results {
			c.Results[i].Finish(base)
		}
		out = append(out, c.Case)
	}
	return out
}

// idleBeside is the idle connections held beside the active ones in c: some
// in the mixed workload, none in the others.
func idleBeside(cfg *config, c *report.Case) int {
	if c.Workload != "mixed" {
		return 0
	}
	return cfg.mixedIdle
}

// fitFDLimit lowers connection counts that would not fit this machine's
// open-file limit (each process needs one fd per connection plus a few).
func fitFDLimit(cfg *config, limit uint64) []string {
	var notes []string
	// The mixed workload's server holds its active and idle connections.
	if limit > 0 && slices.Contains(cfg.workloads, "mixed") && cfg.mixedConns+cfg.mixedIdle > int(limit)-200 {
		idle := max(0, int(limit)-200-cfg.mixedConns)
		notes = append(notes, fmt.Sprintf("mixed workload's idle connections %d lowered to %d: the open-file limit is %d", cfg.mixedIdle, idle, limit))
		cfg.mixedIdle = idle
	}
	if limit == 0 || limit > maxConns+200 {
		return notes
	}
	most := int(limit) - 200
	fit := func(name string, xs []int) []int {
		var out []int
		for _, n := range xs {
			if n > most {
				notes = append(notes, fmt.Sprintf("%s %d lowered to %d: the open-file limit is %d", name, n, most, limit))
				n = most
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
		return out
	}
	cfg.conns = fit("connections", cfg.conns)
	cfg.httpConns = fit("HTTP connections", cfg.httpConns)
	cfg.sweepConns = fit("sweep connections", cfg.sweepConns)
	if v := fit("idle connections", []int{cfg.idleConns}); len(v) == 1 {
		cfg.idleConns = v[0]
	}
	return notes
}
