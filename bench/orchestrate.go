package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upoll/upoll/bench/internal/load"
	"github.com/upoll/upoll/bench/internal/proc"
	"github.com/upoll/upoll/bench/internal/progress"
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

// orchestrate runs the suite and writes the report. It returns the exit
// status: 1 if any run failed.
func orchestrate(cfg *config, stdout, stderr io.Writer) int {
	rep := &report.Report{
		Schema:  report.Schema,
		Started: time.Now(),
		Command: append([]string{"bench"}, os.Args[1:]...),
		Suite:   cfg.suite,
		Machine: proc.Describe(),
		Settings: report.Settings{
			Runs: cfg.runs, WarmupSec: cfg.warmup.Seconds(), DurationSec: cfg.duration.Seconds(),
			Conns: cfg.conns, HTTPConns: cfg.httpConns, Sizes: cfg.sizes, Pipeline: cfg.pipeline,
			PipeConns: cfg.pipeConns, IdleConns: cfg.idleConns, ChurnConns: cfg.churnConns,
			Pin: cfg.pin, Workloads: cfg.workloads,
		},
	}
	if cfg.pin != "off" && !rep.Machine.Taskset {
		rep.Notes = append(rep.Notes, "-pin asked for, but taskset is not installed: all runs are unpinned")
		cfg.pin = "off"
	}
	if cfg.pin != "off" && rep.Machine.Cores < 2 {
		rep.Notes = append(rep.Notes, "-pin needs 2 cores: all runs are unpinned")
		cfg.pin = "off"
	}
	rep.Notes = append(rep.Notes, fitFDLimit(cfg, rep.Machine.FDLimit)...)
	rep.Settings.Conns, rep.Settings.HTTPConns, rep.Settings.IdleConns = cfg.conns, cfg.httpConns, cfg.idleConns
	byKind := map[server.Kind][]entry{}
	for _, t := range server.Targets() {
		if !contains(cfg.targets, t.Name) {
			continue
		}
		info := report.Target{Name: t.Name, Kind: string(t.Kind), Baseline: t.Baseline, Note: t.Note}
		if err := t.Available(); err != nil {
			info.Excluded = err.Error()
		} else {
			byKind[t.Kind] = append(byKind[t.Kind], entry{target: t})
		}
		rep.Targets = append(rep.Targets, info)
	}
	out := cfg.out
	if out == "" {
		out = filepath.Join("out", rep.Started.Format("20060102-150405"))
	}
	profiles := ""
	if cfg.profile {
		profiles = filepath.Join(out, "profiles")
		if err := os.MkdirAll(profiles, 0o755); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
		rep.Notes = append(rep.Notes, "CPU profiles of every server process (from READY to exit, warm-up included) are in profiles/: go tool pprof FILE")
	}
	cases := plan(cfg, byKind)
	var sweep []*plannedCase
	if cfg.sweep {
		sweep, rep.Notes = planSweep(cfg, byKind, rep.Notes)
	}
	total := 0
	for _, c := range append(cases, sweep...) {
		total += len(c.entries) * cfg.runs
	}
	var bar *progress.Bar
	if !cfg.quiet {
		bar = progress.New(stderr, total)
	}
	failed := false
	for _, c := range append(cases, sweep...) {
		for round := range cfg.runs {
			// Rotate the order each round so no target always runs first
			// (or right after the same neighbour) on a drifting VM.
			n := len(c.entries)
			for k := range n {
				i := (k + round) % n
				e := c.entries[i]
				bar.Step(fmt.Sprintf("%s %s%s round %d/%d", c.ID, e.target.Name, optSuffix(e.opts), round+1, cfg.runs))
				prof := ""
				if profiles != "" {
					name := fmt.Sprintf("%s_%s%s_r%d.pprof", c.ID, e.target.Name, optSuffix(e.opts), round+1)
					prof = filepath.Join(profiles, profileName(name))
				}
				run := runOne(cfg, e, &c.Case, round, prof)
				if run.Error != "" {
					failed = true
					rep.Errors = append(rep.Errors, fmt.Sprintf("%s %s%s round %d: %s", c.ID, e.target.Name, optSuffix(e.opts), round+1, run.Error))
				}
				c.Results[i].Runs = append(c.Results[i].Runs, run)
				bar.Done()
			}
		}
	}
	bar.Finish()
	rep.Cases = finish(cases)
	rep.Sweep = finish(sweep)
	rep.Goals = report.Goals(rep.Cases)
	rep.Notes = append(rep.Notes, quietness(rep.Cases)...)
	rep.Finished = time.Now()
	if err := rep.Write(out); err != nil {
		fmt.Fprintf(stderr, "bench: writing report: %v\n", err)
		return 1
	}
	if !cfg.quiet {
		fmt.Fprint(stdout, rep.Text())
		fmt.Fprintf(stdout, "\nreport: %s/report.md, report.json, %d charts\n", out, len(rep.Charts))
	} else {
		fmt.Fprintln(stdout, out)
	}
	if failed {
		fmt.Fprintf(stderr, "bench: %d run(s) failed; see the report's errors\n", len(rep.Errors))
		return 1
	}
	return 0
}

func optSuffix(opts string) string {
	if opts == "" {
		return ""
	}
	return "[" + opts + "]"
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
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
func planSweep(cfg *config, byKind map[server.Kind][]entry, notes []string) ([]*plannedCase, []string) {
	up, ok := server.Lookup("upoll-echo")
	std, _ := server.Lookup("std-echo")
	if !ok || up.Available() != nil {
		return nil, append(notes, "-sweep skipped: upoll-echo is not available in this build")
	}
	pollers := []int{1, 2}
	if n := cfg.pollerCount(); n > 2 {
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

func (cfg *config) pollerCount() int { return procCount() }

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

// runOne measures one target once: start its server, run the load
// generator against it, and turn the load generator's result into metrics.
func runOne(cfg *config, e entry, c *report.Case, round int, cpuprofile string) report.Run {
	run := report.Run{Round: round}
	srvCPU, loadCPU := -1, -1
	if c.Pinned {
		srvCPU, loadCPU = 0, 1
	}
	if cpuprofile != "" {
		if abs, err := filepath.Abs(cpuprofile); err == nil {
			cpuprofile = abs
		}
	}
	srv, err := startChild(srvCPU, "-role", "server", "-target", e.target.Name, "-addr", "127.0.0.1:0", "-opts", e.opts, "-cpuprofile", cpuprofile)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	defer srv.stop()
	ready, err := srv.expect("READY ", 15*time.Second)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	f := strings.Fields(ready)
	if len(f) != 2 {
		run.Error = fmt.Sprintf("bad READY line %q", ready)
		return run
	}
	pid, addr := f[0], f[1]
	var base server.Mem
	if c.Workload == "idle" {
		if base, err = queryMem(srv); err != nil {
			run.Error = err.Error()
			return run
		}
	}
	conns, size, depth := c.Conns, c.Size, c.Pipeline
	if size == 0 {
		size = 64
	}
	ld, err := startChild(loadCPU, "-role", "load", "-workload", c.Workload, "-proto", c.Kind, "-addr", addr,
		"-n", strconv.Itoa(conns), "-msg", strconv.Itoa(size), "-depth", strconv.Itoa(max(depth, 1)),
		"-warmup", cfg.warmup.String(), "-duration", cfg.duration.String(), "-server-pid", pid)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	defer ld.stop()
	limit := cfg.warmup + cfg.duration + 60*time.Second
	if c.Workload == "idle" {
		if _, err := ld.expect("IDLE ", limit); err != nil {
			run.Error = err.Error()
			return run
		}
		loaded, err := queryMem(srv)
		if err != nil {
			run.Error = err.Error()
			return run
		}
		n := float64(conns)
		run.IdleConns = conns
		run.RSSPerConn = (float64(loaded.RSS) - float64(base.RSS)) / n
		run.HeapStackPerConn = (float64(loaded.HeapInuse+loaded.StackInuse) - float64(base.HeapInuse+base.StackInuse)) / n
		run.HeapAllocPerConn = (float64(loaded.HeapAlloc) - float64(base.HeapAlloc)) / n
		run.GoroutinesPerConn = float64(loaded.Goroutines-base.Goroutines) / n
		ld.send("close")
	}
	line, err := ld.expect("RESULT ", limit)
	if err != nil {
		run.Error = err.Error()
		return run
	}
	var res load.Result
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		run.Error = fmt.Sprintf("bad RESULT: %v", err)
		return run
	}
	run.Verified, run.VerifiedBytes = res.Verified, res.VerifiedBytes
	if !res.Verified {
		run.Error = fmt.Sprintf("not verified: %d errors, first: %s", res.Errors, res.FirstError)
		return run
	}
	if c.Workload != "idle" && res.WindowSec > 0 && res.Ops > 0 {
		ops := float64(res.Ops)
		run.OpsPerSec = ops / res.WindowSec
		run.P50US, run.P99US, run.P999US = float64(res.P50NS)/1e3, float64(res.P99NS)/1e3, float64(res.P999NS)/1e3
		run.ServerCPUUSPerOp = res.ServerCPUSec * 1e6 / ops
		run.ServerCPUCores = res.ServerCPUSec / res.WindowSec
		run.LoadCPUCores = res.LoadCPUSec / res.WindowSec
		run.OtherCPUCores = max(0, (res.MachineBusySec-res.ServerCPUSec-res.LoadCPUSec)/res.WindowSec)
		run.StealCores = res.StealSec / res.WindowSec
	}
	return run
}

func queryMem(srv *child) (server.Mem, error) {
	var m server.Mem
	if err := srv.send("mem"); err != nil {
		return m, err
	}
	line, err := srv.expect("MEM ", 30*time.Second)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal([]byte(line), &m)
}

// quietness warns when other processes or the hypervisor took a noticeable
// share of the machine during the measured windows.
func quietness(cases []report.Case) []string {
	var other []float64
	for _, c := range cases {
		for _, r := range c.Results {
			for _, run := range r.Runs {
				if c.Workload != "idle" && run.Error == "" {
					other = append(other, run.OtherCPUCores+run.StealCores)
				}
			}
		}
	}
	med := report.Median(other)
	if med < 0.2 {
		return nil
	}
	return []string{fmt.Sprintf("the machine was not quiet: other processes and the hypervisor used a median %.2f cores "+
		"during the measured windows (column \"other\"); treat absolute figures with care, ratios less so", med)}
}

// fitFDLimit lowers connection counts that would not fit this machine's
// open-file limit (each process needs one fd per connection plus a few).
func fitFDLimit(cfg *config, limit uint64) []string {
	if limit == 0 || limit > maxConns+200 {
		return nil
	}
	most := int(limit) - 200
	var notes []string
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

// profileName turns a case/target label into a file name.
func profileName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '[', ']', ',', '=':
			return '_'
		}
		return r
	}, s)
}
