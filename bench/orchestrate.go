package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/upoll/upoll/bench/internal/proc"
	"github.com/upoll/upoll/bench/internal/progress"
	"github.com/upoll/upoll/bench/internal/report"
	"github.com/upoll/upoll/bench/internal/server"
	"github.com/upoll/upoll/netpoll"
)

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
		if !slices.Contains(cfg.targets, t.Name) {
			continue
		}
		info := report.Target{Name: t.Name, Kind: string(t.Kind), Baseline: t.Baseline, Note: t.Note, Backend: t.Backend}
		if err := t.Available(); err != nil {
			info.Excluded = err.Error()
		} else {
			byKind[t.Kind] = append(byKind[t.Kind], entry{target: t})
		}
		rep.Targets = append(rep.Targets, info)
	}
	for kind, es := range byKind {
		byKind[kind] = withVariants(es, cfg.variants)
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
		sweep, rep.Notes = planSweep(cfg, rep.Notes)
	}
	rep.Targets = inCases(rep.Targets, append(slices.Clone(cases), sweep...))
	total := 0
	for _, c := range append(cases, sweep...) {
		total += len(c.entries) * cfg.runs
	}
	if total == 0 {
		// A report of nothing would read as a run whose goals were all
		// "not measured": say why instead.
		fmt.Fprintf(stderr, "bench: nothing to run: none of the targets %s serves the workloads %s (echo targets serve pingpong, pipeline, churn, mixed and idle; http targets http and idle; rpc targets rpc)\n",
			strings.Join(cfg.targets, ","), strings.Join(cfg.workloads, ","))
		return 2
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
	rep.Notes = append(rep.Notes, backendNotes(rep)...)
	rep.Notes = append(rep.Notes, clientNotes(rep.Cases)...)
	rep.Goals = report.Goals(rep.Cases)
	rep.Notes = append(rep.Notes, quietness(rep.Cases)...)
	rep.Finished = time.Now()
	if err := rep.Write(out); err != nil {
		fmt.Fprintf(stderr, "bench: writing report: %v\n", err)
		return 1
	}
	var cmp *report.Comparison
	if cfg.baselineReport != nil {
		var err error
		if cmp, err = report.Compare(cfg.baselineReport, rep); err == nil {
			err = os.WriteFile(filepath.Join(out, "compare.md"), []byte(cmp.Markdown()), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench: -baseline: %v\n", err)
			return 1
		}
	}
	if !cfg.quiet {
		fmt.Fprint(stdout, rep.Text())
		if cmp != nil {
			fmt.Fprintf(stdout, "\nAGAINST THE BASELINE %s\n", cfg.baseline)
			fmt.Fprint(stdout, cmp.Text())
		}
		fmt.Fprintf(stdout, "\nreport: %s/report.md, report.json, %d charts\n", out, len(rep.Charts))
		if cmp != nil {
			fmt.Fprintf(stdout, "comparison with the baseline: %s/compare.md\n", out)
		}
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

// backendNotes points out upoll targets that ran on another backend than
// the one they are built for, or that their -variants set names
// (UPOLL=backend=... in the environment).
func backendNotes(rep *report.Report) []string {
	declared := map[string]string{}
	for _, t := range rep.Targets {
		declared[t.Name] = t.Backend
	}
	var notes []string
	seen := map[string]bool{}
	for _, c := range append(slices.Clone(rep.Cases), rep.Sweep...) {
		for _, r := range c.Results {
			want := declared[r.Target]
			if o, err := server.ParseOptions(r.Options); err == nil && o.Backend != "" {
				want = o.Backend // a -variants set that names its backend
			}
			if r.Backend == "" || want == "" || r.Backend == want || seen[r.Target] {
				continue
			}
			seen[r.Target] = true
			notes = append(notes, fmt.Sprintf("%s is built for backend %s but ran on %s (UPOLL in the environment?)", r.Target, want, r.Backend))
		}
	}
	return notes
}

// clientNotes names the RPC clients the load generator called with, and
// the configuration each ran on: its own, which UPOLL (the servers'
// experiment switch) does not change.
func clientNotes(cases []report.Case) []string {
	var notes []string
	seen := map[string]bool{}
	for _, c := range cases {
		for _, r := range c.Results {
			for _, run := range r.Runs {
				if run.Client == "" || seen[run.Client] {
					continue
				}
				seen[run.Client] = true
				notes = append(notes, fmt.Sprintf("rpc load client: %s (its own configuration: %s applies to the servers only)", run.Client, netpoll.EnvVar))
			}
		}
	}
	return notes
}

// inCases keeps the targets of a kind some case runs (the others, e.g.
// the rpc targets when the rpc workload is not asked for, take no part).
func inCases(ts []report.Target, cases []*plannedCase) []report.Target {
	kinds := map[string]bool{}
	for _, c := range cases {
		kinds[c.Kind] = true
	}
	var out []report.Target
	for _, t := range ts {
		if kinds[t.Kind] {
			out = append(out, t)
		}
	}
	return out
}
