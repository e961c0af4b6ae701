package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/upoll/upoll/bench/internal/server"
)

// TestMixedIsOptIn: the mixed workload (1000 active beside 15000 idle
// connections) runs only when -workloads names it, never in the smoke or
// default suites, and its case says how many idle connections it held.
func TestMixedIsOptIn(t *testing.T) {
	stdEcho, _ := server.Lookup("std-echo")
	byKind := map[server.Kind][]entry{server.Echo: {{target: stdEcho}}}
	for _, args := range [][]string{{"-suite", "smoke"}, {}, {"-workloads", "all"}} {
		cfg, err := parseFlags(args, &strings.Builder{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range plan(cfg, byKind) {
			if c.Workload == "mixed" {
				t.Fatalf("%v planned %s", args, c.ID)
			}
		}
	}
	cfg, err := parseFlags([]string{"-workloads", "all,mixed"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.workloads, append(slices.Clone(allWorkloads), "mixed")) {
		t.Fatalf("all,mixed: %v", cfg.workloads)
	}
	cases := plan(cfg, byKind)
	last := cases[len(cases)-1]
	if last.ID != "mixed/echo/c1000/s64/idle15000" || last.Conns != 1000 || idleBeside(cfg, &last.Case) != 15000 {
		t.Fatalf("mixed case %s, %d conns, %d idle", last.ID, last.Conns, idleBeside(cfg, &last.Case))
	}
	if idleBeside(cfg, &cases[0].Case) != 0 {
		t.Fatalf("%s holds idle connections", cases[0].ID)
	}
	if notes := fitFDLimit(cfg, 20000); len(notes) != 0 || cfg.mixedIdle != 15000 {
		t.Fatalf("limit 20000: %v, idle %d", notes, cfg.mixedIdle)
	}
	if notes := fitFDLimit(cfg, 10000); len(notes) == 0 || cfg.mixedIdle != 10000-200-1000 {
		t.Fatalf("limit 10000: %v, idle %d", notes, cfg.mixedIdle)
	}
	cfg, _ = parseFlags(nil, &strings.Builder{})
	for _, n := range fitFDLimit(cfg, 10000) {
		if strings.Contains(n, "mixed") {
			t.Fatalf("mixed not asked for, yet a note on it: %q", n)
		}
	}
}
