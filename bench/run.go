package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/upoll/upoll/bench/internal/load"
	"github.com/upoll/upoll/bench/internal/report"
	"github.com/upoll/upoll/bench/internal/server"
)

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
		"-warmup", cfg.warmup.String(), "-duration", cfg.duration.String(), "-server-pid", pid,
		"-idle", strconv.Itoa(idleBeside(cfg, c)), "-client", e.target.Client, "-inflight", strconv.Itoa(max(c.Inflight, 1)),
		"-mark="+strconv.FormatBool(c.Workload != "idle"))
	if err != nil {
		run.Error = err.Error()
		return run
	}
	defer ld.stop()
	limit := cfg.warmup + cfg.duration + 60*time.Second
	if c.Workload == "idle" {
		// The load generator opens the connections in two halves and
		// waits after each: memory at the half and at the end gives the
		// cost of one more connection, apart from the fixed costs the
		// first connections bring (idle pool workers, threads).
		var mem [2]server.Mem
		for i, next := range []string{"more", "close"} {
			if _, err := ld.expect("IDLE ", limit); err != nil {
				run.Error = err.Error()
				return run
			}
			time.Sleep(e.target.Settle)
			m, err := queryMem(srv)
			if err != nil {
				run.Error = err.Error()
				return run
			}
			mem[i] = m
			ld.send(next)
		}
		half, loaded := mem[0], mem[1]
		n := float64(conns)
		run.IdleConns = conns
		run.RSSPerConn = (float64(loaded.RSS) - float64(base.RSS)) / n
		run.HeapStackPerConn = (float64(loaded.HeapInuse+loaded.StackInuse) - float64(base.HeapInuse+base.StackInuse)) / n
		run.HeapAllocPerConn = (float64(loaded.HeapAlloc) - float64(base.HeapAlloc)) / n
		run.GoroutinesPerConn = float64(loaded.Goroutines-base.Goroutines) / n
		if added := float64(conns - conns/2); added > 0 {
			run.RSSMarginal = (float64(loaded.RSS) - float64(half.RSS)) / added
			run.HeapStackMarginal = (float64(loaded.HeapInuse+loaded.StackInuse) - float64(half.HeapInuse+half.StackInuse)) / added
		}
	}
	// At each end of the window the load generator waits while the
	// server's own counters are read: their difference covers the window.
	var ctr [2]server.Counters
	var line string
	for marks := 0; ; {
		which, rest, err := ld.expectAny(limit, "MARK ", "RESULT ")
		if err != nil {
			run.Error = err.Error()
			return run
		}
		if which == "RESULT " {
			line = rest
			break
		}
		if marks < 2 {
			if ctr[marks], err = queryCounters(srv); err != nil {
				run.Error = err.Error()
				return run
			}
		}
		marks++
		if err := ld.send("go"); err != nil {
			run.Error = err.Error()
			return run
		}
	}
	var res load.Result
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		run.Error = fmt.Sprintf("bad RESULT: %v", err)
		return run
	}
	run.Verified, run.VerifiedBytes, run.Client = res.Verified, res.VerifiedBytes, res.Client
	if res.Idle > 0 {
		run.IdleConns = res.Idle
	}
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
		run.LoadCPUUSPerOp = res.LoadCPUSec * 1e6 / ops
		run.ServerRWCallsPerOp = float64(res.ServerIO.Calls()) / ops
		run.LoadRWCallsPerOp = float64(res.LoadIO.Calls()) / ops
		run.ServerRWCounted, run.LoadRWCounted = res.ServerIOCounted, res.LoadIOCounted
		// The counters were read just outside the load generator's
		// window, a little apart from its ends, with the load running
		// on until the second reading: their rates over the server's
		// own interval, times the window, per operation.
		if d := ctr[1].Sub(ctr[0]); ctr[1].Backend != "" && d.At > 0 {
			perOp := res.WindowSec / (float64(d.At) / 1e9) / ops
			run.UpollReadsPerOp = float64(d.Reads) * perOp
			run.UpollWritesPerOp = float64(d.Writes) * perOp
			run.UpollWaitsPerOp = float64(d.Waits) * perOp
		}
	}
	run.Backend = cmp.Or(ctr[1].Backend, e.target.Backend)
	return run
}

// queryCounters asks the server for its own counters (all zero for a
// target that is not upoll).
func queryCounters(srv *child) (server.Counters, error) {
	var c server.Counters
	if err := srv.send("stats"); err != nil {
		return c, err
	}
	line, err := srv.expect("STATS ", 30*time.Second)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal([]byte(line), &c)
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
