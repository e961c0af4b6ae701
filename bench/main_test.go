package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/upoll/upoll/bench/internal/report"
	"github.com/upoll/upoll/bench/internal/server"
)

// TestMain lets the test binary stand in for the bench binary: the
// orchestrator re-executes os.Executable() with childEnv set, and then the
// child runs its role instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(realMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestBadFlagsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{"-suite", "huge"},
		{"-targets", "std-echo,nginx"},
		{"-conns", "10,abc"},
		{"-conns", "0"},
		{"-conns", "30000"},
		{"-size", "0"},
		{"-duration", "1ms"},
		{"-runs", "-1"},
		{"-warmup", "-5s"},
		{"-warmup", "soon"},
		{"-pin=sometimes"},
		{"-variants", "dispatch=inline;wait=sleep"},
		{"-idle-conns", "25000"},
		{"-workloads", "pingpong,dance"},
		{"-nosuchflag"},
		{"stray"},
		{"-role", "server", "-target", "std-echo", "-addr", "0.0.0.0:0"},
		{"-role", "client"},
	} {
		var out, errb strings.Builder
		if code := realMain(args, strings.NewReader(""), &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
		if errb.Len() == 0 {
			t.Errorf("%v: no message on stderr", args)
		}
	}
}

func TestFlagsOverrideSuite(t *testing.T) {
	var errb strings.Builder
	cfg, err := parseFlags([]string{"-suite", "smoke", "-conns", "100,10,100", "-size", "128", "-runs", "3", "-pin=both", "-targets", "std-echo"}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.conns) != 2 || cfg.conns[0] != 10 || cfg.conns[1] != 100 || cfg.httpConns[1] != 100 {
		t.Fatalf("conns %v http %v", cfg.conns, cfg.httpConns)
	}
	if cfg.sizes[0] != 128 || cfg.runs != 3 || cfg.pin != "both" || len(cfg.targets) != 1 {
		t.Fatalf("cfg %+v", cfg)
	}
	cfg, err = parseFlags([]string{"-warmup", "0s"}, &errb)
	if err != nil || cfg.warmup != 0 {
		t.Fatalf("-warmup 0s: %v, %v", err, cfg.warmup)
	}
	cfg, err = parseFlags([]string{"-pin"}, &errb)
	if err != nil || cfg.pin != "on" || cfg.suite != "quick" {
		t.Fatalf("-pin alone: %v %+v", err, cfg)
	}
	if code := realMain([]string{"-h"}, strings.NewReader(""), &strings.Builder{}, &errb); code != 0 {
		t.Fatalf("-h exit %d", code)
	}
	if !strings.Contains(errb.String(), "Usage: go -C bench run .") {
		t.Fatalf("usage text missing: %q", errb.String())
	}
}

// TestThoroughSuite: the quick suite's cases, measured longer and more often.
func TestThoroughSuite(t *testing.T) {
	q, err := parseFlags([]string{"-suite", "quick"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	th, err := parseFlags([]string{"-suite", "thorough"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if th.runs != 5 || th.duration <= q.duration || th.warmup <= q.warmup {
		t.Fatalf("thorough: runs %d, window %v, warm-up %v", th.runs, th.duration, th.warmup)
	}
	if !slices.Equal(th.conns, q.conns) || !slices.Equal(th.httpConns, q.httpConns) || th.idleConns != q.idleConns {
		t.Fatalf("thorough cases differ from quick: %v %v %d", th.conns, th.httpConns, th.idleConns)
	}
}

func TestPlanCases(t *testing.T) {
	cfg, err := parseFlags([]string{"-suite", "quick", "-pin=both", "-workloads", "pingpong,idle,http"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if got := plan(cfg, nil); len(got) != 0 {
		t.Fatalf("no targets must plan no cases, got %d", len(got))
	}
	stdEcho, _ := server.Lookup("std-echo")
	stdHTTP, _ := server.Lookup("std-http")
	cases := plan(cfg, map[server.Kind][]entry{server.Echo: {{target: stdEcho}}, server.HTTP: {{target: stdHTTP}}})
	// 3 conns x {unpinned, pinned} ping-pong + 2 x 2 HTTP + idle echo + idle http.
	if len(cases) != 6+4+2 {
		t.Fatalf("%d cases", len(cases))
	}
	ids := map[string]bool{}
	for _, c := range cases {
		if ids[c.ID] {
			t.Fatalf("duplicate case id %s", c.ID)
		}
		ids[c.ID] = true
		if c.Baseline == "" || len(c.Results) != 1 {
			t.Fatalf("%s: baseline %q, %d results", c.ID, c.Baseline, len(c.Results))
		}
	}
	if !ids["pingpong/echo/c1000/s64/pinned"] || !ids["idle/http/c5000"] {
		t.Fatalf("ids %v", ids)
	}
}

func TestVariants(t *testing.T) {
	cfg, err := parseFlags([]string{"-variants", " wait=block,dispatch=inline ; ; echo=slice;dispatch=inline,wait=block;backend=std"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	// Normalized (key order as Options.String writes it) and deduplicated.
	var sets []string
	for _, o := range cfg.variants {
		sets = append(sets, o.String())
	}
	if want := []string{"wait=block,dispatch=inline", "echo=slice", "backend=std"}; !slices.Equal(sets, want) {
		t.Fatalf("variants %q, want %q", sets, want)
	}
	std, _ := server.Lookup("std-echo")
	up, _ := server.Lookup("upoll-echo")
	upHTTP, _ := server.Lookup("upoll-http")
	got := withVariants([]entry{{target: std}, {target: up}, {target: upHTTP}}, cfg.variants)
	var names []string
	for _, e := range got {
		names = append(names, e.target.Name+"/"+e.opts)
	}
	// echo=slice picks the echo handler: not for the HTTP target.
	want := []string{"std-echo/", "upoll-echo/", "upoll-echo/wait=block,dispatch=inline", "upoll-echo/echo=slice", "upoll-echo/backend=std",
		"upoll-http/", "upoll-http/wait=block,dispatch=inline", "upoll-http/backend=std"}
	if !slices.Equal(names, want) {
		t.Fatalf("entries %q, want %q", names, want)
	}
	if es := withVariants([]entry{{target: up}}, nil); len(es) != 1 {
		t.Fatalf("no variants: %d entries", len(es))
	}
}

// A -variants set that names a backend is expected to run on it; a
// default entry on another backend than its target's is pointed out.
func TestBackendNotesVariants(t *testing.T) {
	rep := &report.Report{
		Targets: []report.Target{{Name: "upoll-echo", Backend: "epoll"}},
		Cases: []report.Case{{Results: []report.Result{
			{Target: "upoll-echo", Backend: "epoll"},
			{Target: "upoll-echo", Options: "backend=uring", Backend: "uring"},
		}}},
	}
	if notes := backendNotes(rep); len(notes) != 0 {
		t.Fatalf("notes for targets on their backends: %q", notes)
	}
	rep.Cases[0].Results[1].Backend = "epoll" // the variant did not switch
	if notes := backendNotes(rep); len(notes) != 1 || !strings.Contains(notes[0], "ran on epoll") {
		t.Fatalf("variant on the wrong backend: notes %q", notes)
	}
	rep.Cases[0].Results = rep.Cases[0].Results[:1]
	rep.Cases[0].Results[0].Backend = "uring" // UPOLL=backend=uring
	if notes := backendNotes(rep); len(notes) != 1 || !strings.Contains(notes[0], "built for backend epoll but ran on uring") {
		t.Fatalf("default on another backend: notes %q", notes)
	}
}

// TestSmokeEndToEnd runs the whole pipeline on the std-echo target: server
// and load-generator child processes, report files, and the checker.
func TestSmokeEndToEnd(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	args := []string{"-suite", "smoke", "-quiet", "-targets", "std-echo", "-out", dir, "-runs", "2", "-idle-conns", "50"}
	if code := realMain(args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	if errb.Len() != 0 {
		t.Fatalf("-quiet wrote to stderr: %q", errb.String())
	}
	if probs := report.Check(dir); len(probs) != 0 {
		t.Fatalf("check: %v", probs)
	}
	var r report.Report
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	workloads := map[string]bool{}
	for _, c := range r.Cases {
		workloads[c.Workload] = true
		res := c.Find("std-echo")
		if res == nil || len(res.Runs) != 2 || !res.Verified {
			t.Fatalf("%s: std-echo result %+v", c.ID, res)
		}
	}
	for _, w := range []string{"pingpong", "pipeline", "idle", "churn"} {
		if !workloads[w] {
			t.Errorf("workload %s missing from %v", w, workloads)
		}
	}
	idle := r.Cases[0]
	for _, c := range r.Cases {
		if c.Workload == "idle" {
			idle = c
		}
	}
	// A goroutine-per-connection server holds about one goroutine and
	// several KB per idle connection.
	m := idle.Results[0].Median
	if m.GoroutinesPerConn < 0.9 || m.HeapStackPerConn < 2048 || m.HeapStackMarginal < 2048 {
		t.Errorf("std-echo idle figures implausible: %+v", m)
	}
	if code := realMain([]string{"-check", dir}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("-check exit %d: %s", code, errb.String())
	}
	// The same again, judged against the first run.
	dir2 := t.TempDir()
	args = []string{"-suite", "smoke", "-quiet", "-targets", "std-echo", "-out", dir2, "-runs", "2", "-idle-conns", "50", "-baseline", dir}
	if code := realMain(args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("-baseline run: exit %d\nstderr %s", code, errb.String())
	}
	if md, err := os.ReadFile(filepath.Join(dir2, "compare.md")); err != nil || !strings.Contains(string(md), "| std-echo | msg/s |") {
		t.Fatalf("compare.md: %v\n%s", err, md)
	}
	os.Remove(filepath.Join(dir, "report.md"))
	if code := realMain([]string{"-check", dir}, strings.NewReader(""), &out, &errb); code != 1 {
		t.Fatalf("-check of a broken report: exit %d, want 1", code)
	}
}

func TestFitFDLimit(t *testing.T) {
	cfg, err := parseFlags([]string{"-suite", "quick"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if notes := fitFDLimit(cfg, 1<<20); len(notes) != 0 {
		t.Fatalf("notes with a large limit: %v", notes)
	}
	notes := fitFDLimit(cfg, 1024)
	if len(notes) == 0 || cfg.idleConns != 824 || cfg.conns[len(cfg.conns)-1] != 824 {
		t.Fatalf("notes %v, idle %d, conns %v", notes, cfg.idleConns, cfg.conns)
	}
}

// TestCompareExitStatus: -compare prints NEW against OLD, and a missing or
// malformed report, a report of another suite or a missing NEW is bad
// usage (2) with a message that names the problem.
func TestCompareExitStatus(t *testing.T) {
	td := filepath.Join("internal", "report", "testdata")
	old, new := filepath.Join(td, "compare_old.json"), filepath.Join(td, "compare_new.json")
	var out, errb strings.Builder
	if code := realMain([]string{"-compare", old, new}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "-30.0% better") {
		t.Fatalf("comparison:\n%s", out.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-compare", filepath.Join(td, "nonexistent.json"), new}, "OLD: load report"},
		{[]string{"-compare", old, filepath.Join(td, "malformed.json")}, "NEW: load report"},
		{[]string{"-compare", old, filepath.Join(td, "compare_quick.json")}, `suite "quick"`},
		{[]string{"-compare", old}, "want OLD and NEW"},
		{[]string{"-compare", old, new, "extra"}, "want OLD and NEW"},
		{[]string{"-baseline", filepath.Join(td, "malformed.json"), "-suite", "smoke"}, "-baseline"},
		{[]string{"-baseline", old, "-suite", "quick"}, `suite "smoke"; this run is suite "quick"`},
	} {
		out.Reset()
		errb.Reset()
		if code := realMain(tc.args, strings.NewReader(""), &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// TestRPCEndToEnd runs the rpc case through child processes, server and
// client apart: both targets verify every answer, the client's CPU per
// call and the system calls are measured, upoll-rpc says it ran on epoll,
// and the goals of the case are judged.
func TestRPCEndToEnd(t *testing.T) {
	dir := t.TempDir()
	var out, errb strings.Builder
	args := []string{"-suite", "smoke", "-quiet", "-workloads", "rpc", "-targets", "std-rpc,upoll-rpc", "-out", dir, "-runs", "2"}
	if code := realMain(args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	if probs := report.Check(dir); len(probs) != 0 {
		t.Fatalf("check: %v", probs)
	}
	r, err := report.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Cases) != 1 || r.Cases[0].ID != "rpc/rpc/c1000/s64/i8" || r.Cases[0].Inflight != 8 {
		t.Fatalf("cases %+v", r.Cases)
	}
	for target, backend := range map[string]string{"std-rpc": "", "upoll-rpc": "epoll"} {
		res := r.Cases[0].Find(target)
		if res == nil || !res.Verified || res.Backend != backend {
			t.Fatalf("%s: %+v", target, res)
		}
		m := res.Median
		if m.LoadCPUUSPerOp <= 0 || m.ServerRWCallsPerOp <= 0 || m.LoadRWCallsPerOp <= 0 || (m.UpollReadsPerOp > 0) != (backend != "") {
			t.Errorf("%s: figures %+v", target, m)
		}
	}
	measured := 0
	for _, g := range r.Goals {
		if strings.HasPrefix(g.Name, "upoll-rpc ") && g.Measured {
			measured++
		}
	}
	if measured != 3 {
		t.Fatalf("%d rpc goals measured: %+v", measured, r.Goals)
	}
}

// TestRPCIsOptInForQuick: the rpc case is in all of the thorough suite,
// not of the quick or smoke ones, where -workloads can name it.
func TestRPCIsOptInForQuick(t *testing.T) {
	for args, want := range map[string]bool{"-suite smoke": false, "-suite quick": false, "-suite thorough": true,
		"-suite quick -workloads all,rpc": true, "-suite smoke -workloads rpc": true, "-suite thorough -workloads pingpong": false} {
		cfg, err := parseFlags(strings.Fields(args), &strings.Builder{})
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(cfg.workloads, "rpc"); got != want {
			t.Errorf("%s: rpc in %v: %v, want %v", args, cfg.workloads, got, want)
		}
	}
}

// TestTargetsOfKindsThatRan: the report lists only the targets of a kind
// some case ran, so the rpc targets are not said to have run in a suite
// without the rpc case.
func TestTargetsOfKindsThatRan(t *testing.T) {
	ts := []report.Target{{Name: "std-echo", Kind: "echo"}, {Name: "std-rpc", Kind: "rpc"}, {Name: "floor-c", Kind: "echo", Excluded: "no cc"}}
	got := inCases(ts, []*plannedCase{{Case: report.Case{Kind: "echo"}}})
	if len(got) != 2 || got[0].Name != "std-echo" || got[1].Name != "floor-c" {
		t.Fatalf("targets %+v", got)
	}
}
