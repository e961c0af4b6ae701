package netpoll

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

// The echo benchmark's server runs in a child process (the test binary
// run again with -test.run=^TestBenchChild$) so that its CPU time can be
// read from /proc apart from the load generator's.
const (
	// benchChildEnv selects the child's server: "upoll" or "stdnet".
	// When it is unset TestBenchChild skips at once.
	benchChildEnv = "UPOLL_BENCH_CHILD"
	// benchProfileEnv, given to the benchmark, makes each child write a
	// CPU profile of the measured window to the named path plus a suffix
	// naming the sub-benchmark; the child itself gets the full path.
	benchProfileEnv = "UPOLL_BENCH_CPUPROFILE"
	// benchStatsEnv, when set, makes an upoll child print its poller
	// counters over the measured window to stderr.
	benchStatsEnv = "UPOLL_BENCH_STATS"
	// benchAddrPrefix starts the stdout line with the listen address.
	benchAddrPrefix = "UPOLL_BENCH_ADDR="
	// benchChildLifetime bounds a child whose parent never closes its
	// stdin.
	benchChildLifetime = 10 * time.Minute
)

// Commands the parent sends on the child's stdin, one per line, around
// the measured window. EOF on stdin ends the child.
const (
	benchCmdStart = "start" // start the CPU profile, snapshot counters
	benchCmdStop  = "stop"  // write the profile, report counters
)

// TestBenchChild is the server of BenchmarkEcho; it does nothing in a
// normal test run.
func TestBenchChild(t *testing.T) {
	kind := os.Getenv(benchChildEnv)
	if kind == "" {
		t.Skip(benchChildEnv + " unset: only BenchmarkEcho runs this, as its server process")
	}
	addr, srv, stop, err := startBenchServer(kind)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	fmt.Fprintf(os.Stdout, "%s%s\n", benchAddrPrefix, addr)

	cmds := make(chan string)
	go func() {
		defer close(cmds)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- sc.Text()
		}
	}()
	prof := &benchProfile{path: os.Getenv(benchProfileEnv)}
	defer prof.stop(t)
	var before Stats
	var mem0 runtime.MemStats
	stats := os.Getenv(benchStatsEnv) != ""
	limit := time.NewTimer(benchChildLifetime)
	defer limit.Stop()
	for {
		select {
		case cmd, ok := <-cmds:
			if !ok {
				return
			}
			switch cmd {
			case benchCmdStart:
				prof.start(t)
				if stats {
					runtime.ReadMemStats(&mem0)
					if srv != nil {
						before = srv.Stats()
					}
				}
			case benchCmdStop:
				prof.stop(t)
				if stats {
					printWindowMem(&mem0)
					if srv != nil {
						printWindowStats(before, srv.Stats())
					}
				}
			default:
				t.Errorf("unknown command %q", cmd)
			}
		case <-limit.C:
			t.Errorf("parent did not end the child within %v", benchChildLifetime)
			return
		}
	}
}

// benchProfile is the child's optional CPU profile.
type benchProfile struct {
	path string
	f    *os.File
}

func (p *benchProfile) start(t *testing.T) {
	if p.path == "" || p.f != nil {
		return
	}
	f, err := os.Create(p.path)
	if err != nil {
		t.Error(err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		t.Error(err)
		return
	}
	p.f = f
}

func (p *benchProfile) stop(t *testing.T) {
	if p.f == nil {
		return
	}
	pprof.StopCPUProfile()
	if err := p.f.Close(); err != nil {
		t.Error(err)
	}
	p.f = nil
}

// printWindowMem prints to stderr what the child's runtime allocated and
// collected since mem0.
func printWindowMem(mem0 *runtime.MemStats) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Fprintf(os.Stderr, "window: %d B allocated in %d objects, %d GCs, %v of GC pauses\n",
		m.TotalAlloc-mem0.TotalAlloc, m.Mallocs-mem0.Mallocs, m.NumGC-mem0.NumGC,
		time.Duration(m.PauseTotalNs-mem0.PauseTotalNs))
}

// printWindowStats prints to stderr what the pollers did between two
// snapshots, per handler run (one per message in ping-pong).
func printWindowStats(a, b Stats) {
	d := func(x, y uint64) float64 { return float64(y - x) }
	runs := max(d(a.HandlerRuns, b.HandlerRuns), 1)
	fmt.Fprintf(os.Stderr, "upoll window: %.0f handler runs; per run: %.3f epoll_waits, %.3f parks, "+
		"%.3f wake-ups, %.3f events, %.3f readv (%.3f EAGAIN), %.3f writev; mean queue wait %.1f µs; "+
		"%.1f runs per pool batch, %.4f rescued\n",
		runs, d(a.Waits, b.Waits)/runs, d(a.Parks, b.Parks)/runs,
		d(a.Wakeups, b.Wakeups)/runs, d(a.Events, b.Events)/runs,
		d(a.ReadCalls, b.ReadCalls)/runs, d(a.ReadEAGAIN, b.ReadEAGAIN)/runs,
		d(a.WriteCalls, b.WriteCalls)/runs, d(a.HandlerWaitNs, b.HandlerWaitNs)/runs/1e3,
		d(a.BatchedRuns, b.BatchedRuns)/max(d(a.Batches, b.Batches), 1), d(a.Rescues, b.Rescues)/runs)
	if b.Enters > 0 {
		fmt.Fprintf(os.Stderr, "upoll ring: per run %.3f io_uring_enter, %.3f submissions, %.3f completions\n",
			d(a.Enters, b.Enters)/runs, d(a.Submissions, b.Submissions)/runs, d(a.Completions, b.Completions)/runs)
	}
}

// startBenchServer starts an echo server of the given kind on
// 127.0.0.1 and returns its address, the upoll Server (nil for stdnet)
// and a function that stops it.
func startBenchServer(kind string) (string, *Server, func(), error) {
	switch kind {
	case "upoll":
		return startUpollEcho()
	case "stdnet":
		addr, stop, err := startStdEcho()
		return addr, nil, stop, err
	}
	return "", nil, nil, fmt.Errorf("%s=%q: want upoll or stdnet", benchChildEnv, kind)
}

// startUpollEcho serves echoHandler (the handler of examples/echo) with
// the default configuration as changed by UPOLL (which the child
// inherits from the benchmark).
func startUpollEcho() (string, *Server, func(), error) {
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	s, err := NewServer(echoHandler)
	if err != nil {
		ln.Close()
		return "", nil, nil, err
	}
	go s.Serve(ln)
	return ln.Addr().String(), s, func() { s.Close() }, nil
}

// startStdEcho is the usual goroutine-per-connection echo on the
// standard library, with a read buffer per connection. (Not io.Copy: on
// two TCP sockets it would splice, which is not what a typical server
// does with its bytes.)
func startStdEcho() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(5 * time.Millisecond) // EMFILE and the like
				continue
			}
			go stdEchoConn(c)
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }, nil
}

func stdEchoConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
