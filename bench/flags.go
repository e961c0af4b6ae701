package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/upoll/upoll/bench/internal/report"
	"github.com/upoll/upoll/bench/internal/server"
)

// maxConns keeps each process well inside the 20,000 fd limit.
const maxConns = 15000

// workloads, in the order a suite runs them.
var allWorkloads = []string{"pingpong", "pipeline", "http", "idle", "churn"}

// optInWorkloads run only when -workloads names them (or the suite's
// extra workloads do): each takes longer than the default suite can
// afford.
var optInWorkloads = []string{"mixed", "rpc"}

// The rpc workload: Inflight calls in flight on each of rpcConns
// connections (the suite's -conns do not apply).
const (
	rpcConns    = 1000
	rpcInflight = 8
)

// The mixed workload: ping-pong on mixedActive connections beside
// mixedIdle idle ones, held by helper processes of the load generator.
const (
	mixedActive = 1000
	mixedIdle   = 15000
)

// config is what the orchestrator runs.
type config struct {
	suite      string
	targets    []string
	workloads  []string
	conns      []int // echo ping-pong connection counts
	httpConns  []int
	sizes      []int
	pipeline   int
	pipeConns  int
	idleConns  int
	churnConns int
	mixedConns int // active connections of the mixed workload
	mixedIdle  int // idle connections beside them
	rpcConns   int // connections of the rpc workload
	// extra are the opt-in workloads that "all" includes in this suite.
	extra      []string
	warmup     time.Duration
	duration   time.Duration
	runs       int
	sweep      bool
	sweepConns []int
	variants   []server.Options // upoll option sets run beside the defaults
	pin        string           // off, on, both
	out        string
	quiet      bool
	check      string
	profile    bool
	compare    [2]string // -compare OLD NEW: report files or directories
	baseline   string    // -baseline OLD: compare this run with OLD
	// baselineReport is the loaded -baseline report.
	baselineReport *report.Report
}

// suites are the built-in parameter sets; flags override their fields.
var suites = map[string]config{
	"smoke": {
		conns: []int{10}, httpConns: []int{10}, sizes: []int{64}, pipeline: 16, pipeConns: 10,
		idleConns: 200, churnConns: 4, warmup: 100 * time.Millisecond, duration: 300 * time.Millisecond,
		runs: 1, sweepConns: []int{10},
	},
	"quick": {
		conns: []int{10, 100, 1000}, httpConns: []int{10, 1000}, sizes: []int{64}, pipeline: 16, pipeConns: 50,
		idleConns: 5000, churnConns: 16, warmup: 300 * time.Millisecond, duration: time.Second,
		runs: 3, sweepConns: []int{10, 1000},
	},
	"thorough": { // the quick suite's cases and the rpc case, measured long enough for docs
		conns: []int{10, 100, 1000}, httpConns: []int{10, 1000}, sizes: []int{64}, pipeline: 16, pipeConns: 50,
		idleConns: 5000, churnConns: 16, warmup: time.Second, duration: 3 * time.Second,
		runs: 5, sweepConns: []int{10, 1000}, extra: []string{"rpc"},
	},
	"full": {
		conns: []int{1, 10, 100, 1000, 5000}, httpConns: []int{1, 10, 100, 1000, 5000}, sizes: []int{64, 1024, 4096},
		pipeline: 16, pipeConns: 100, idleConns: 10000, churnConns: 32, warmup: time.Second, duration: 3 * time.Second,
		runs: 5, sweepConns: []int{10, 100, 1000}, extra: []string{"rpc"},
	},
}

// pinValue is -pin: a boolean flag that also takes "both".
type pinValue struct{ v *string }

// String implements flag.Value.
func (p pinValue) String() string {
	if p.v == nil {
		return "off"
	}
	return *p.v
}

// IsBoolFlag lets -pin stand alone (meaning on).
func (p pinValue) IsBoolFlag() bool { return true }

// Set implements flag.Value.
func (p pinValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "on", "1":
		*p.v = "on"
	case "false", "off", "0":
		*p.v = "off"
	case "both":
		*p.v = "both"
	default:
		return fmt.Errorf("want on, off or both")
	}
	return nil
}

const usageText = `Usage: go -C bench run . [flags]

Runs upoll against the standard library and peers, each target a server
process of its own, driven by a load-generator process, and writes a report
(Markdown, JSON, SVG charts) into -out. Examples:

  go -C bench run .                                  default suite (quick, about 6 min)
  go -C bench run . -suite smoke -quiet -out /tmp/r  seconds; for scripts and CI
  go -C bench run . -check /tmp/r                    verify a written report
  go -C bench run . -compare OLD.json NEW.json       NEW against OLD, figure by figure, with "~" for noise
  go -C bench run . -baseline OLD.json               run, then compare with a saved report of the same suite
  go -C bench run . -suite thorough                  the quick suite's cases and rpc, 3s windows, 5 rounds (for docs)
  go -C bench run . -workloads rpc -targets std-rpc,upoll-rpc
                                                     the RPC case: 1000 conns x 8 calls in flight
  go -C bench run . -targets std-echo,upoll-echo -conns 1000 -runs 5
  go -C bench run . -sweep                           upoll trigger x wait x dispatch x pollers
  go -C bench run . -workloads pingpong -variants 'dispatch=inline,wait=block'
                                                     one more upoll configuration beside the defaults

Targets: %s
Workloads: %s

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		var optIn []string
		for _, n := range server.Names() {
			if !slices.Contains(server.DefaultNames(), n) {
				optIn = append(optIn, n)
			}
		}
		fmt.Fprintf(stderr, usageText, strings.Join(server.DefaultNames(), ", ")+"; on request only: "+strings.Join(optIn, ", "),
			strings.Join(allWorkloads, ", ")+"; on request only: "+strings.Join(optInWorkloads, ", "))
		fs.PrintDefaults()
	}
	var (
		suite     = fs.String("suite", "quick", "parameter set: smoke, quick, thorough or full")
		targets   = fs.String("targets", "all", "comma-separated targets, or all")
		workloads = fs.String("workloads", "all", "comma-separated workloads; all is every one but "+strings.Join(optInWorkloads, ", ")+" (mixed: 1000 ping-pong conns beside 15000 idle ones; rpc: 1000 conns x 8 calls in flight, in all of the thorough and full suites)")
		conns     = fs.String("conns", "", "comma-separated connection counts for ping-pong and HTTP (default: the suite's)")
		sizes     = fs.String("size", "", "comma-separated echo message sizes in bytes (default: the suite's)")
		idle      = fs.Int("idle-conns", 0, "connections held for the idle-memory case (default: the suite's)")
		duration  = fs.Duration("duration", 0, "measured window per run (default: the suite's)")
		warmup    optDuration
		runs      = fs.Int("runs", 0, "runs per case and target (default: the suite's; medians need >= 3)")
		out       = fs.String("out", "", "report directory (default out/<timestamp> under the current directory)")
		sweep     = fs.Bool("sweep", false, "also sweep upoll-echo over trigger x wait x dispatch x pollers")
		variants  = fs.String("variants", "", "semicolon-separated upoll option sets (as in UPOLL, e.g. 'dispatch=inline,wait=block'); each runs the upoll targets once more, beside their defaults, in every case")
		quiet     = fs.Bool("quiet", false, "no progress bar and no table; print only the report path")
		check     = fs.String("check", "", "verify the report in this directory and exit")
		profile   = fs.Bool("profile", false, "write a CPU profile of every server process into <out>/profiles")
		compare   = fs.String("compare", "", "`OLD` report (report.json or its directory): compare it with the NEW report named after the flags, and exit")
		baseline  = fs.String("baseline", "", "`OLD` report of the same suite: after the run, compare the new report with it (also written to <out>/compare.md)")
	)
	fs.Var(&warmup, "warmup", "`duration` of the warm-up before each window (default: the suite's)")
	pin := "off"
	fs.Var(pinValue{&pin}, "pin", "pin server to cpu0 and load generator to cpu1 with taskset: -pin, -pin=both (pinned and unpinned)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *compare != "" {
		if fs.NArg() != 1 {
			return nil, fmt.Errorf("-compare %s: want OLD and NEW reports: -compare OLD.json NEW.json", *compare)
		}
		if *check != "" || *baseline != "" {
			return nil, fmt.Errorf("-compare does not go with -check or -baseline")
		}
		return &config{compare: [2]string{*compare, fs.Arg(0)}}, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	base, ok := suites[*suite]
	if !ok {
		return nil, fmt.Errorf("-suite %q: want smoke, quick, thorough or full", *suite)
	}
	cfg := base
	cfg.baseline = *baseline
	cfg.mixedConns, cfg.mixedIdle, cfg.rpcConns = mixedActive, mixedIdle, rpcConns
	cfg.suite, cfg.pin, cfg.out, cfg.quiet, cfg.sweep, cfg.check, cfg.profile = *suite, pin, *out, *quiet, *sweep, *check, *profile
	var err error
	if *targets == "all" || *targets == "" {
		cfg.targets = server.DefaultNames() // the opt-in A/B variants only when named
	} else if cfg.targets, err = pickList("targets", *targets, server.Names()); err != nil {
		return nil, err
	}
	if cfg.workloads, err = pickWorkloads(*workloads, cfg.extra); err != nil {
		return nil, err
	}
	for v := range strings.SplitSeq(*variants, ";") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		o, err := server.ParseOptions(v)
		if err != nil {
			return nil, fmt.Errorf("-variants %q: %w", v, err)
		}
		if !slices.Contains(cfg.variants, o) {
			cfg.variants = append(cfg.variants, o)
		}
	}
	if *conns != "" {
		if cfg.conns, err = intList("conns", *conns, 1, maxConns); err != nil {
			return nil, err
		}
		cfg.httpConns, cfg.sweepConns = cfg.conns, cfg.conns
	}
	if *sizes != "" {
		if cfg.sizes, err = intList("size", *sizes, 1, 1<<20); err != nil {
			return nil, err
		}
	}
	if *idle != 0 {
		if *idle < 1 || *idle > maxConns {
			return nil, fmt.Errorf("-idle-conns %d: want 1..%d (the fd limit is 20000 per process)", *idle, maxConns)
		}
		cfg.idleConns = *idle
	}
	if *duration != 0 {
		if *duration < 50*time.Millisecond || *duration > 10*time.Minute {
			return nil, fmt.Errorf("-duration %v: want 50ms..10m", *duration)
		}
		cfg.duration = *duration
	}
	if warmup.set {
		if warmup.d < 0 || warmup.d > 10*time.Minute {
			return nil, fmt.Errorf("-warmup %v: want 0..10m", warmup.d)
		}
		cfg.warmup = warmup.d
	}
	if *runs != 0 {
		if *runs < 1 || *runs > 100 {
			return nil, fmt.Errorf("-runs %d: want 1..100", *runs)
		}
		cfg.runs = *runs
	}
	return &cfg, nil
}

// optDuration is a duration flag that knows whether it was given, so that 0
// can be asked for explicitly and otherwise the suite's value applies.
type optDuration struct {
	d   time.Duration
	set bool
}

// String implements flag.Value; it is empty when unset.
func (o *optDuration) String() string {
	if o == nil || !o.set {
		return ""
	}
	return o.d.String()
}

// Set implements flag.Value.
func (o *optDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	o.d, o.set = d, true
	return nil
}

// pickList validates a comma-separated selection against known names.
func pickList(flagName, s string, known []string) ([]string, error) {
	if s == "all" || s == "" {
		return slices.Clone(known), nil
	}
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("-%s: unknown %q (known: %s)", flagName, name, strings.Join(known, ", "))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// pickWorkloads is pickList for -workloads, where all means every
// workload but the opt-in ones (except the suite's extra ones), and may
// be named beside them.
func pickWorkloads(s string, extra []string) ([]string, error) {
	var names []string
	for name := range strings.SplitSeq(s, ",") {
		if name = strings.TrimSpace(name); name == "all" || name == "" {
			names = append(names, allWorkloads...)
			names = append(names, extra...)
		} else {
			names = append(names, name)
		}
	}
	return pickList("workloads", strings.Join(names, ","), append(slices.Clone(allWorkloads), optInWorkloads...))
}

// intList parses "1,10,100", each within [lo, hi], sorted, without repeats.
func intList(flagName, s string, lo, hi int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("-%s: %q is not a number", flagName, f)
		}
		if n < lo || n > hi {
			why := ""
			if strings.Contains(flagName, "conns") {
				why = " (the fd limit is 20000 per process)"
			}
			return nil, fmt.Errorf("-%s: %d out of range %d..%d%s", flagName, n, lo, hi, why)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
