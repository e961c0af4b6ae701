// Package report holds the harness's results and writes them: a terminal
// table, Markdown, JSON with stable field names, and SVG charts. It also
// checks a written report (the -check mode CI uses).
package report

import (
	"cmp"
	"slices"
	"time"

	"github.com/upoll/upoll/bench/internal/proc"
)

// Schema names the JSON layout; it changes only when a field changes meaning.
const Schema = "upoll-bench/v1"

// Report is everything one invocation measured.
type Report struct {
	Schema   string       `json:"schema"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Command  []string     `json:"command"`
	Suite    string       `json:"suite"`
	Machine  proc.Machine `json:"machine"`
	Settings Settings     `json:"settings"`
	Targets  []Target     `json:"targets"`
	Cases    []Case       `json:"cases"`
	Sweep    []Case       `json:"sweep"`
	Goals    []Goal       `json:"goals"`
	Charts   []Chart      `json:"charts"`
	Notes    []string     `json:"notes"`
	Errors   []string     `json:"errors"`
}

// Settings are the parameters the suite ran with.
type Settings struct {
	Runs        int      `json:"runs"`
	WarmupSec   float64  `json:"warmup_sec"`
	DurationSec float64  `json:"duration_sec"`
	Conns       []int    `json:"conns"`
	HTTPConns   []int    `json:"http_conns"`
	Sizes       []int    `json:"sizes"`
	Pipeline    int      `json:"pipeline_depth"`
	PipeConns   int      `json:"pipeline_conns"`
	IdleConns   int      `json:"idle_conns"`
	ChurnConns  int      `json:"churn_workers"`
	Pin         string   `json:"pin"`
	Workloads   []string `json:"workloads"`
}

// Target describes one server implementation.
type Target struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Baseline bool   `json:"baseline"`
	Note     string `json:"note"`
	// Backend is the netpoll backend a upoll target is built to run on
	// ("epoll", "std", ...); empty for targets that are not upoll.
	Backend string `json:"backend,omitempty"`
	// Excluded says why a requested target did not run ("" if it ran).
	Excluded string `json:"excluded,omitempty"`
}

// Case is one workload configuration, measured on several targets.
type Case struct {
	ID       string `json:"id"`
	Workload string `json:"workload"`
	Kind     string `json:"kind"`
	Conns    int    `json:"conns"`
	Size     int    `json:"size,omitempty"`
	Pipeline int    `json:"pipeline,omitempty"`
	// Inflight is the calls in flight per connection (rpc).
	Inflight int      `json:"inflight,omitempty"`
	Pinned   bool     `json:"pinned"`
	Baseline string   `json:"baseline"`
	Results  []Result `json:"results"`
}

// Result is one target's runs of a case.
type Result struct {
	Target string `json:"target"`
	// Options are the upoll experiment options (sweep only).
	Options string  `json:"options,omitempty"`
	Runs    []Run   `json:"runs"`
	Median  Metrics `json:"median"`
	// VsBaseline holds medians of ratios computed run by run against the
	// baseline target's run of the same round (absent for the baseline).
	VsBaseline *Ratios `json:"vs_baseline,omitempty"`
	Verified   bool    `json:"verified"`
	// Backend is the netpoll backend the target's runs served on, as
	// its server reported it (empty: not upoll).
	Backend string `json:"backend,omitempty"`
}

// Run is one measurement of one target.
type Run struct {
	Round int `json:"round"`
	// Backend is the netpoll backend the server ran on (empty: not upoll).
	Backend string `json:"backend,omitempty"`
	// ServerRWCounted and LoadRWCounted say that the kernel's read and
	// write counts (ServerRWCallsPerOp, LoadRWCallsPerOp) were read in
	// this run, so that a zero among them is a count. Reports written
	// before they existed have neither: their zeros stay "not measured".
	ServerRWCounted bool `json:"server_rw_counted,omitempty"`
	LoadRWCounted   bool `json:"load_rw_counted,omitempty"`
	Metrics
	VerifiedBytes uint64 `json:"verified_bytes"`
	Verified      bool   `json:"verified"`
	Error         string `json:"error,omitempty"`
	// Client is the load generator's RPC client and, for upoll's, the
	// configuration it ran on (rpc only).
	Client string `json:"client,omitempty"`
}

// Metrics are the figures of one run, or medians over runs.
type Metrics struct {
	OpsPerSec        float64 `json:"ops_per_sec,omitempty"`
	P50US            float64 `json:"p50_us,omitempty"`
	P99US            float64 `json:"p99_us,omitempty"`
	P999US           float64 `json:"p999_us,omitempty"`
	ServerCPUUSPerOp float64 `json:"server_cpu_us_per_op,omitempty"`
	ServerCPUCores   float64 `json:"server_cpu_cores,omitempty"`
	LoadCPUCores     float64 `json:"load_cpu_cores,omitempty"`
	// LoadCPUUSPerOp is the load generator's CPU per operation: in the
	// rpc case, the client's CPU per call.
	LoadCPUUSPerOp float64 `json:"load_cpu_us_per_op,omitempty"`
	// ServerRWCallsPerOp and LoadRWCallsPerOp are the read- and
	// write-class system calls (read, readv, write, writev: syscr+syscw
	// of /proc/<pid>/io) per operation of the server and of the load
	// generator, counted by the kernel; epoll_wait, io_uring_enter,
	// accept, futex and the like are not among them.
	ServerRWCallsPerOp float64 `json:"server_rw_calls_per_op,omitempty"`
	LoadRWCallsPerOp   float64 `json:"load_rw_calls_per_op,omitempty"`
	// UpollReadsPerOp, UpollWritesPerOp and UpollWaitsPerOp are what a
	// upoll server's own counters (netpoll.Stats ReadCalls, WriteCalls,
	// Waits) counted per operation; what each stands for depends on the
	// backend (see backendCounts).
	UpollReadsPerOp  float64 `json:"upoll_reads_per_op,omitempty"`
	UpollWritesPerOp float64 `json:"upoll_writes_per_op,omitempty"`
	UpollWaitsPerOp  float64 `json:"upoll_waits_per_op,omitempty"`
	// OtherCPUCores is the CPU the rest of the machine used during the
	// window (busy time of all CPUs minus server and load generator), and
	// StealCores the time the hypervisor took: both should be near 0.
	OtherCPUCores    float64 `json:"other_cpu_cores"`
	StealCores       float64 `json:"steal_cores"`
	IdleConns        int     `json:"idle_conns,omitempty"`
	RSSPerConn       float64 `json:"rss_bytes_per_conn,omitempty"`
	HeapStackPerConn float64 `json:"heap_stack_bytes_per_conn,omitempty"`
	// HeapAllocPerConn is the growth of live heap objects alone (no span
	// fragmentation, no stacks): the smallest of the three figures.
	HeapAllocPerConn  float64 `json:"heap_alloc_bytes_per_conn,omitempty"`
	GoroutinesPerConn float64 `json:"goroutines_per_conn,omitempty"`
	// RSSMarginal and HeapStackMarginal are the growth per connection from
	// half the idle connections to all of them: the cost of one more idle
	// connection, without the fixed costs that the per-conn averages above
	// spread over the connections (a pool's idle workers, threads, the
	// runtime's first spans).
	RSSMarginal       float64 `json:"rss_bytes_marginal,omitempty"`
	HeapStackMarginal float64 `json:"heap_stack_bytes_marginal,omitempty"`
}

// MemPerConn is the larger of the RSS and the Go heap+stack growth per
// connection, averaged over all idle connections.
func (m Metrics) MemPerConn() float64 { return max(m.RSSPerConn, m.HeapStackPerConn) }

// MemMarginal is the figure idle-memory goals judge: the larger of the RSS
// and the Go heap+stack that one more idle connection costs.
func (m Metrics) MemMarginal() float64 { return max(m.RSSMarginal, m.HeapStackMarginal) }

// Ratios are target/baseline, medians of the per-round ratios.
type Ratios struct {
	OpsPerSec        float64 `json:"ops_per_sec,omitempty"`
	ServerCPUUSPerOp float64 `json:"server_cpu_us_per_op,omitempty"`
	P99US            float64 `json:"p99_us,omitempty"`
	MemPerConn       float64 `json:"mem_per_conn,omitempty"`
	LoadCPUUSPerOp   float64 `json:"load_cpu_us_per_op,omitempty"`
}

// Goal is one target the project set itself, with what was measured.
type Goal struct {
	Name      string  `json:"name"`
	Measured  bool    `json:"measured"`
	Ratio     float64 `json:"ratio,omitempty"`
	Value     float64 `json:"value,omitempty"`
	Threshold float64 `json:"threshold"`
	// Lo and Hi are the lowest and highest per-round figure (ratio or
	// value) of which Ratio or Value is the median.
	Lo float64 `json:"lo,omitempty"`
	Hi float64 `json:"hi,omitempty"`
	// Rounds is how many rounds (or pairs of rounds) the figure had.
	Rounds int `json:"rounds,omitempty"`
	// Op is how the measured figure must compare to Threshold: "<=" or ">=".
	Op string `json:"op"`
	// Met says whether the median meets the threshold; Status words it for
	// readers: "met", "not met", "within noise" (the rounds fall on both
	// sides of the threshold) or "not measured".
	Met    bool   `json:"met"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// Goal statuses.
const (
	StatusMet         = "met"
	StatusNotMet      = "not met"
	StatusWithinNoise = "within noise"
	StatusNotMeasured = "not measured"
)

// Median returns the median of xs (0 for none), ignoring zeros' absence:
// callers pass only the figures that were measured.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Finish computes r's medians and its ratios against baseline (nil when r is
// the baseline or the baseline did not run).
func (r *Result) Finish(baseline *Result) {
	ok := r.okRuns()
	r.Verified = len(ok) > 0 && len(ok) == len(r.Runs)
	pick := func(f func(Metrics) float64) float64 { return Median(r.samples(f)) }
	r.Median = Metrics{
		OpsPerSec:        pick(opsPerSec),
		P50US:            pick(func(m Metrics) float64 { return m.P50US }),
		P99US:            pick(func(m Metrics) float64 { return m.P99US }),
		P999US:           pick(func(m Metrics) float64 { return m.P999US }),
		ServerCPUUSPerOp: pick(cpuPerOp),
		ServerCPUCores:   pick(func(m Metrics) float64 { return m.ServerCPUCores }),
		LoadCPUCores:     pick(func(m Metrics) float64 { return m.LoadCPUCores }),
		// 0 is a reading here (a quiet machine), not a missing one.
		OtherCPUCores:      Median(r.allSamples(func(m Metrics) float64 { return m.OtherCPUCores })),
		StealCores:         Median(r.allSamples(func(m Metrics) float64 { return m.StealCores })),
		RSSPerConn:         pick(func(m Metrics) float64 { return m.RSSPerConn }),
		HeapStackPerConn:   pick(func(m Metrics) float64 { return m.HeapStackPerConn }),
		HeapAllocPerConn:   pick(func(m Metrics) float64 { return m.HeapAllocPerConn }),
		GoroutinesPerConn:  pick(func(m Metrics) float64 { return m.GoroutinesPerConn }),
		RSSMarginal:        pick(func(m Metrics) float64 { return m.RSSMarginal }),
		HeapStackMarginal:  pick(func(m Metrics) float64 { return m.HeapStackMarginal }),
		LoadCPUUSPerOp:     pick(loadCPUPerOp),
		ServerRWCallsPerOp: Median(r.rwSamples(serverRW)),
		LoadRWCallsPerOp:   Median(r.rwSamples(loadRW)),
		UpollReadsPerOp:    Median(r.counterSamples(func(m Metrics) float64 { return m.UpollReadsPerOp })),
		UpollWritesPerOp:   Median(r.counterSamples(func(m Metrics) float64 { return m.UpollWritesPerOp })),
		UpollWaitsPerOp:    Median(r.counterSamples(func(m Metrics) float64 { return m.UpollWaitsPerOp })),
	}
	if len(ok) > 0 {
		r.Median.IdleConns = ok[0].IdleConns
	}
	r.Backend = ""
	for _, run := range r.Runs {
		if run.Backend != "" && r.Backend != "" && run.Backend != r.Backend {
			r.Backend = "mixed"
			break
		}
		r.Backend = cmp.Or(r.Backend, run.Backend)
	}
	if baseline == nil || baseline == r {
		return
	}
	ratio := func(f func(Metrics) float64) float64 { return Median(roundRatios(r, baseline, f)) }
	r.VsBaseline = &Ratios{
		OpsPerSec:        ratio(opsPerSec),
		ServerCPUUSPerOp: ratio(cpuPerOp),
		P99US:            ratio(func(m Metrics) float64 { return m.P99US }),
		MemPerConn:       ratio(Metrics.MemPerConn),
		LoadCPUUSPerOp:   ratio(loadCPUPerOp),
	}
}

// Find returns the result of target in c, or nil.
func (c *Case) Find(target string) *Result {
	for i := range c.Results {
		if c.Results[i].Target == target && c.Results[i].Options == "" {
			return &c.Results[i]
		}
	}
	return nil
}
