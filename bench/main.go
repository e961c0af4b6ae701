// Command bench measures upoll against Go's standard netpoller and peers.
//
//	go -C bench run .                      # default (quick) suite, about 6 minutes
//	go -C bench run . -suite smoke -quiet -out DIR && go -C bench run . -check DIR
//	go -C bench run . -compare OLD.json NEW.json
//
// The command re-executes itself in two roles: "-role server" runs one target
// server, "-role load" generates load against it; the parent orchestrates and
// reports. Each runs in a process of its own so their CPU is measured apart.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/upoll/upoll/bench/internal/load"
	"github.com/upoll/upoll/bench/internal/report"
	"github.com/upoll/upoll/bench/internal/server"
)

// childEnv marks a re-executed child, so a test binary runs the role instead
// of its tests.
const childEnv = "UPOLL_BENCH_CHILD"

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// realMain runs the command and returns its exit status: 0 success, 1 a
// failed run or check, 2 bad usage.
func realMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if isRole(args) {
		return runRole(args, stdin, stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\nRun 'go -C bench run . -h' for usage.\n", err)
		return 2
	}
	if cfg.compare[0] != "" {
		return compareReports(cfg.compare[0], cfg.compare[1], stdout, stderr)
	}
	if cfg.baseline != "" {
		old, err := report.Load(cfg.baseline)
		if err == nil && old.Suite != cfg.suite {
			err = fmt.Errorf("%s is a report of suite %q; this run is suite %q", cfg.baseline, old.Suite, cfg.suite)
		}
		if err != nil {
			fmt.Fprintf(stderr, "bench: -baseline: %v\n", err)
			return 2
		}
		cfg.baselineReport = old
	}
	if cfg.check != "" {
		probs := report.Check(cfg.check)
		if len(probs) > 0 {
			fmt.Fprintf(stderr, "bench: report %s FAILED its check:\n  %s\n", cfg.check, strings.Join(probs, "\n  "))
			return 1
		}
		fmt.Fprintf(stdout, "report %s OK\n", cfg.check)
		return 0
	}
	return orchestrate(cfg, stdout, stderr)
}

// compareReports prints NEW against OLD. Exit status 2: a report is
// missing, malformed, or of another suite.
func compareReports(oldPath, newPath string, stdout, stderr io.Writer) int {
	var reps [2]*report.Report
	for i, p := range []string{oldPath, newPath} {
		r, err := report.Load(p)
		if err != nil {
			fmt.Fprintf(stderr, "bench: -compare: %s: %v\n", [2]string{"OLD", "NEW"}[i], err)
			return 2
		}
		reps[i] = r
	}
	cmp, err := report.Compare(reps[0], reps[1])
	if err != nil {
		fmt.Fprintf(stderr, "bench: -compare %s %s: %v\n", oldPath, newPath, err)
		return 2
	}
	fmt.Fprint(stdout, cmp.Text())
	return 0
}

func isRole(args []string) bool {
	return len(args) > 0 && (args[0] == "-role" || args[0] == "--role" ||
		strings.HasPrefix(args[0], "-role=") || strings.HasPrefix(args[0], "--role="))
}

// runRole is the child side: "-role server" or "-role load".
func runRole(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench -role", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "server or load")
	target := fs.String("target", "", "server: target name")
	opts := fs.String("opts", "", "server: upoll experiment options")
	addr := fs.String("addr", "127.0.0.1:0", "server: listen address; load: server address")
	cpuprofile := fs.String("cpuprofile", "", "server: write a CPU profile here")
	var lc load.Config
	fs.StringVar(&lc.Workload, "workload", "", "load: workload")
	fs.StringVar(&lc.Proto, "proto", "echo", "load: echo or http (idle, churn)")
	fs.IntVar(&lc.Conns, "n", 1, "load: connections (workers for churn)")
	fs.IntVar(&lc.Size, "msg", 64, "load: echo message size")
	fs.IntVar(&lc.Pipeline, "depth", 16, "load: pipelined messages per batch")
	fs.DurationVar(&lc.Warmup, "warmup", 0, "load: warm-up")
	fs.DurationVar(&lc.Duration, "duration", 0, "load: measured window")
	fs.IntVar(&lc.ServerPID, "server-pid", 0, "load: server pid to sample CPU of")
	fs.IntVar(&lc.Idle, "idle", 0, "load: idle connections held by helper processes beside the active ones (mixed)")
	fs.IntVar(&lc.FirstID, "first-id", 0, "load: id of the first connection (idle; a mixed workload's helper)")
	fs.StringVar(&lc.Client, "client", "", "load: rpcload client, upoll or std (rpc)")
	fs.IntVar(&lc.Inflight, "inflight", 1, "load: calls in flight per connection (rpc)")
	fs.BoolVar(&lc.Mark, "mark", false, "load: write MARK at each end of the window and wait for a line on stdin")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !strings.HasPrefix(*addr, "127.0.0.1:") {
		fmt.Fprintf(stderr, "bench: -addr %q: only 127.0.0.1 is allowed\n", *addr)
		return 2
	}
	var err error
	switch *role {
	case "server":
		err = server.Run(*target, *addr, *opts, *cpuprofile, stdin, stdout)
	case "load":
		lc.Addr = *addr
		err = load.Run(lc, stdin, stdout)
	default:
		fmt.Fprintf(stderr, "bench: -role %q: want server or load\n", *role)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", *role, err)
		fmt.Fprintf(stdout, "ERROR %v\n", err)
		return 1
	}
	return 0
}
