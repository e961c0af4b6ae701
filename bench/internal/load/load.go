// Package load is the harness's load-generator role. It runs in a process of
// its own, opens connections to one server on 127.0.0.1, drives one workload,
// verifies every byte it gets back, and prints one "RESULT <json>" line.
//
// The measured window starts after a warm-up; the CPU time of the server and
// of the load generator itself are sampled from /proc at its two ends, so the
// window of the counts and of the CPU figures is the same.
package load

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/upoll/upoll/bench/internal/hist"
	"github.com/upoll/upoll/bench/internal/proc"
)

// Workloads the load generator knows.
const (
	PingPong = "pingpong" // echo: one message in flight per connection
	Pipeline = "pipeline" // echo: Pipeline messages written at once, then read back
	HTTP     = "http"     // HTTP/1.1 keep-alive GET, one request in flight per connection
	Idle     = "idle"     // open Conns connections, one exchange each, then hold them idle
	Churn    = "churn"    // Conns workers: connect, one echo exchange, close, repeat
	Mixed    = "mixed"    // echo ping-pong on Conns connections beside Idle idle ones held by helper processes
	RPC      = "rpc"      // rpcload: Inflight calls in flight on each of Conns connections, by Client
)

// Config is what one load-generator run does.
type Config struct {
	Workload  string
	Addr      string
	Conns     int
	Size      int // echo message size in bytes
	Pipeline  int // messages per batch (Pipeline workload)
	Warmup    time.Duration
	Duration  time.Duration
	ServerPID int // sampled for CPU; 0 skips it
	Proto     string
	Idle      int // idle connections beside the active ones (Mixed)
	// FirstID is the id of the first connection of the Idle workload:
	// the mixed workload's helpers number theirs after the active
	// connections and each other's, so that no two connections of a run
	// send the same message and a swap of their echoes fails.
	FirstID int
	// HoldPerProcess is the most idle connections one helper process
	// holds (Mixed); 0 means DefaultHoldPerProcess.
	HoldPerProcess int
	// Client is the rpcload client ("upoll" or "std") and Inflight the
	// calls in flight per connection (RPC).
	Client   string
	Inflight int
	// Mark makes the window's ends a handshake with the parent: just
	// before the window's first sample and just after its last, the load
	// generator writes "MARK <0|1>" and waits for a line on its input
	// (the parent reads the server's own counters meanwhile).
	Mark bool
}

// Result is one run's outcome, printed as JSON.
type Result struct {
	Workload string `json:"workload"`
	Conns    int    `json:"conns"`
	// Idle is the idle connections held beside the active ones (mixed).
	Idle int `json:"idle_conns,omitempty"`
	// Ops is messages (echo), requests (http), or connect-exchange-close
	// cycles (churn) completed inside the measured window; for idle, the
	// number of connections held.
	Ops uint64 `json:"ops"`
	// Bytes is payload bytes echoed inside the window.
	Bytes uint64 `json:"bytes"`
	// VerifiedBytes counts every response byte compared with what was
	// expected, warm-up included.
	VerifiedBytes uint64  `json:"verified_bytes"`
	Verified      bool    `json:"verified"`
	Errors        int     `json:"errors"`
	FirstError    string  `json:"first_error,omitempty"`
	WindowSec     float64 `json:"window_sec"`
	ServerCPUSec  float64 `json:"server_cpu_sec"`
	LoadCPUSec    float64 `json:"load_cpu_sec"`
	// MachineBusySec and StealSec are the whole machine's busy and stolen
	// CPU time over the window (/proc/stat), to tell whether other
	// processes or the hypervisor disturbed the run.
	MachineBusySec float64 `json:"machine_busy_sec"`
	StealSec       float64 `json:"steal_sec"`
	// ServerIO and LoadIO are the read- and write-class system calls
	// (/proc/<pid>/io syscr, syscw) the server and the load generator
	// made over the window; zero where /proc/<pid>/io could not be read.
	ServerIO proc.IO `json:"server_io"`
	LoadIO   proc.IO `json:"load_io"`
	// ServerIOCounted and LoadIOCounted say that ServerIO and LoadIO
	// were read: a zero among them is then a count (a server that
	// reads and writes through io_uring makes no such call), not a
	// missing figure.
	ServerIOCounted bool `json:"server_io_counted,omitempty"`
	LoadIOCounted   bool `json:"load_io_counted,omitempty"`

	P50NS  int64   `json:"p50_ns"`
	P99NS  int64   `json:"p99_ns"`
	P999NS int64   `json:"p999_ns"`
	MaxNS  int64   `json:"max_ns"`
	MeanNS float64 `json:"mean_ns"`
	// Client is the RPC client the load called with and, for upoll's,
	// the configuration it ran on (RPC).
	Client string `json:"client,omitempty"`
}

// phases of a run, in order. Between measuring and stopping the load
// runs on, uncounted, while the window's end is sampled: the parent's
// reading of the server's counters there must see the window's load.
const (
	warming int32 = iota
	measuring
	closing
	stopping
)

// run is the state one workload's goroutines share.
type run struct {
	cfg   Config
	phase atomic.Int32

	mu       sync.Mutex
	errs     int
	firstErr error
	hist     *hist.Histogram
	ops      uint64
	bytes    uint64
	verified uint64
	held     int    // idle connections helpers held through the run (Mixed)
	client   string // the RPC client and its configuration (RPC)
}

// stat is one worker's private tally, merged into run at the end.
type stat struct {
	h        hist.Histogram
	ops      uint64
	bytes    uint64
	verified uint64
}

func (r *run) measuring() bool { return r.phase.Load() == measuring }
func (r *run) stopped() bool   { return r.phase.Load() == stopping }

// fail records an error unless the run is already stopping (then deadlines
// and closes are expected).
func (r *run) fail(err error) {
	if r.stopped() && !errors.Is(err, errMismatch) {
		return
	}
	r.failAlways(err)
}

// failAlways records an error whatever the phase: a server that left an
// exchange unanswered for seconds failed, even if the window was over
// when that showed.
func (r *run) failAlways(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs++
	if r.firstErr == nil {
		r.firstErr = err
	}
}

func (r *run) merge(s *stat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hist.Merge(&s.h)
	r.ops += s.ops
	r.bytes += s.bytes
	r.verified += s.verified
}

var errMismatch = errors.New("response bytes differ from what was sent")

// Run executes cfg and writes "RESULT <json>" to out. The idle workload also
// writes "IDLE <n>" once its connections are up, then waits for a line (or
// EOF) on in before closing them.
func Run(cfg Config, in io.Reader, out io.Writer) error {
	r := &run{cfg: cfg, hist: hist.New()}
	var (
		window [2]proc.CPU
		self   [2]proc.CPU
		sys    [2]proc.SystemCPU
		srvIO  [2]proc.IO
		selfIO [2]proc.IO
		ioOK   = [2]bool{true, true} // server, self: every sample read
		res    Result
		err    error
	)
	lines := bufio.NewReader(in)
	mark := func(i int) {
		if cfg.Mark {
			fmt.Fprintf(out, "MARK %d\n", i)
			lines.ReadString('\n')
		}
	}
	// A failed reading of the server's CPU leaves a zero sample: the
	// window would then span the server's whole life (or none of it),
	// so the run fails instead of reporting that.
	var srvCPUErr error
	sample := func(i int) {
		// The handshake stays outside the window: the parent's reading
		// of the server's counters takes time of its own (their rate is
		// taken over the server's own timestamps, so the load runs on
		// until the second reading, uncounted: see closing).
		if i == 0 {
			mark(i)
		}
		// Its own I/O count last at the start and first at the end, so
		// that the reads of /proc here stay out of the window.
		var ioErr error
		if i == 1 {
			selfIO[i], ioErr = proc.ReadIO(os.Getpid())
			ioOK[1] = ioOK[1] && ioErr == nil
		}
		if cfg.ServerPID > 0 {
			var cpuErr error
			window[i], cpuErr = proc.ReadCPU(cfg.ServerPID)
			if cpuErr != nil && srvCPUErr == nil {
				srvCPUErr = cpuErr
			}
			srvIO[i], ioErr = proc.ReadIO(cfg.ServerPID)
			ioOK[0] = ioOK[0] && ioErr == nil
		}
		self[i], _ = proc.ReadCPU(os.Getpid())
		sys[i], _ = proc.ReadSystemCPU()
		if i == 0 {
			selfIO[i], ioErr = proc.ReadIO(os.Getpid())
			ioOK[1] = ioOK[1] && ioErr == nil
		}
		if i == 1 {
			mark(i)
		}
	}
	switch cfg.Workload {
	case PingPong, Pipeline, HTTP:
		err = r.steady(sample)
	case Churn:
		err = r.churn(sample)
	case Mixed:
		err = r.mixed(sample)
	case RPC:
		err = r.rpc(sample)
	case Idle:
		err = r.idle(lines, out)
	default:
		return fmt.Errorf("unknown workload %q", cfg.Workload)
	}
	if err != nil {
		return err
	}
	if srvCPUErr != nil && cfg.Workload != Idle {
		return fmt.Errorf("reading the server's CPU time: %w", srvCPUErr)
	}
	res = r.result()
	if cfg.Workload != Idle {
		res.WindowSec = window[1].At.Sub(window[0].At).Seconds()
		if cfg.ServerPID == 0 {
			res.WindowSec = self[1].At.Sub(self[0].At).Seconds()
		} else {
			res.ServerCPUSec = proc.CPUSeconds(window[0], window[1])
		}
		res.LoadCPUSec = proc.CPUSeconds(self[0], self[1])
		res.MachineBusySec = float64(sys[1].Busy-sys[0].Busy) / proc.ClockTicks
		res.StealSec = float64(sys[1].Steal-sys[0].Steal) / proc.ClockTicks
		if ioOK[0] && cfg.ServerPID > 0 {
			res.ServerIO = proc.IO{SysR: srvIO[1].SysR - srvIO[0].SysR, SysW: srvIO[1].SysW - srvIO[0].SysW}
			res.ServerIOCounted = true
		}
		if ioOK[1] {
			res.LoadIO = proc.IO{SysR: selfIO[1].SysR - selfIO[0].SysR, SysW: selfIO[1].SysW - selfIO[0].SysW}
			res.LoadIOCounted = true
		}
	}
	b, _ := json.Marshal(res)
	_, err = fmt.Fprintf(out, "RESULT %s\n", b)
	return err
}

func (r *run) result() Result {
	h := r.hist
	res := Result{
		Workload:      r.cfg.Workload,
		Conns:         r.cfg.Conns,
		Idle:          r.held,
		Ops:           r.ops,
		Bytes:         r.bytes,
		VerifiedBytes: r.verified,
		Errors:        r.errs,
		P50NS:         h.Quantile(0.5),
		P99NS:         h.Quantile(0.99),
		P999NS:        h.Quantile(0.999),
		MaxNS:         h.Max(),
		MeanNS:        h.Mean(),
		Client:        r.client,
	}
	if r.firstErr != nil {
		res.FirstError = r.firstErr.Error()
	}
	res.Verified = r.errs == 0 && r.ops > 0 && r.verified > 0
	return res
}

// window runs warm-up, then the measured window, sampling at both ends, then
// tells workers to stop.
func (r *run) window(sample func(int)) {
	time.Sleep(r.cfg.Warmup)
	sample(0)
	r.phase.Store(measuring)
	time.Sleep(r.cfg.Duration)
	r.phase.Store(closing)
	sample(1)
	r.phase.Store(stopping)
}

// steady drives the ping-pong, pipelined and HTTP workloads: one goroutine
// per connection, each with one request (or batch) in flight.
func (r *run) steady(sample func(int)) error {
	conns, err := dialAll(r.cfg.Addr, r.cfg.Conns)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var active atomic.Int32 // workers not yet returned
	active.Store(int32(len(conns)))
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer active.Add(-1)
			s := new(stat)
			var err error
			if r.cfg.Workload == HTTP {
				err = r.httpWorker(c, s)
			} else {
				err = r.echoWorker(c, i, s)
			}
			if err != nil {
				r.fail(err)
			}
			r.merge(s)
		}()
	}
	r.window(sample)
	// Workers finish their exchange in flight; a deadline frees any stuck
	// one. Its deadline error is not counted (the window is over), but a
	// worker still waiting then has had no answer for 2 s at least, which
	// no healthy exchange takes: the server lost it (a lost wake-up stops
	// a connection early in the window and shows only here), and the run
	// fails.
	stuck := time.AfterFunc(2*time.Second, func() {
		if n := active.Load(); n > 0 {
			r.failAlways(fmt.Errorf("%d of %d connections had an exchange unanswered 2 s after the window ended", n, len(conns)))
		}
		for _, c := range conns {
			c.SetDeadline(time.Now())
		}
	})
	wg.Wait()
	stuck.Stop()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// dialAll opens n connections to addr, at most 64 dials at a time, retrying
// each a few times (a burst of SYNs can overflow the accept queue).
func dialAll(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	sem := make(chan struct{}, 64)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(addr)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if first != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, fmt.Errorf("dial %d connections to %s: %w", n, addr, first)
	}
	return conns, nil
}

func dial(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	var err error
	for try := 0; try < 5; try++ {
		var c net.Conn
		if c, err = d.Dial("tcp", addr); err == nil {
			return c, nil
		}
		time.Sleep(time.Duration(10<<try) * time.Millisecond)
	}
	return nil, err
}
