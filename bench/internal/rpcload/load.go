package rpcload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/upoll/upoll/bench/internal/hist"
	"github.com/upoll/upoll/bench/internal/proc"
)

// Load is what Run does.
type Load struct {
	Conns, Inflight, Size int
	Warmup, Window        time.Duration
	ServerPID             int // the server process, for its CPU time; 0: not measured
}

// Result is one run, measured over the window after the warm-up.
type Result struct {
	Calls        uint64  `json:"calls"`
	Seconds      float64 `json:"seconds"`
	CallsPerSec  float64 `json:"calls_per_sec"`
	P50us        float64 `json:"p50_us"`
	P99us        float64 `json:"p99_us"`
	ServerCPUus  float64 `json:"server_cpu_us_per_call"`
	ClientCPUus  float64 `json:"client_cpu_us_per_call"`
	MachineCores float64 `json:"machine_busy_cores"`
	Errors       uint64  `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
}

// Run keeps Conns x Inflight calls in flight on cl (Inflight callers
// per connection, each waiting for its answer before the next call)
// and checks every answer byte for byte against its argument, which
// carries the caller and a sequence number.
func Run(cl Client, l Load) (Result, error) {
	const (
		warm = iota
		measure
		stop
	)
	var (
		phase    atomic.Int32
		calls    atomic.Uint64
		errs     atomic.Uint64
		firstErr atomic.Value
		mu       sync.Mutex
		h        = hist.New()
		wg       sync.WaitGroup
	)
	for w := range l.Conns * l.Inflight {
		wg.Go(func() {
			mine := hist.New()
			arg := make([]byte, max(l.Size, 12))[:l.Size]
			for i := range arg {
				arg[i] = byte('a' + (w+i)%26)
			}
			for seq := uint64(0); ; seq++ {
				p := phase.Load()
				if p == stop {
					break
				}
				if len(arg) >= 12 {
					binary.BigEndian.PutUint32(arg, uint32(w))
					binary.BigEndian.PutUint64(arg[4:], seq)
				}
				t0 := time.Now()
				got, err := cl.Call(w, arg)
				d := time.Since(t0)
				if err == nil && !bytes.Equal(got, arg) {
					err = fmt.Errorf("caller %d call %d: wrong answer (%d bytes)", w, seq, len(got))
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if p := phase.Load(); p == stop {
						break
					}
					time.Sleep(10 * time.Millisecond) // a broken connection: do not spin
					continue
				}
				if p == measure && phase.Load() == measure {
					mine.Record(d.Nanoseconds())
					calls.Add(1)
				}
			}
			mu.Lock()
			h.Merge(mine)
			mu.Unlock()
		})
	}
	time.Sleep(l.Warmup)
	srv0, cli0, sys0 := sample(l.ServerPID)
	calls.Store(0)
	phase.Store(measure)
	time.Sleep(l.Window)
	phase.Store(stop)
	n := calls.Load()
	srv1, cli1, sys1 := sample(l.ServerPID)
	wg.Wait()
	r := Result{Calls: n, Seconds: cli1.At.Sub(cli0.At).Seconds(), Errors: errs.Load()}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	if n == 0 {
		return r, fmt.Errorf("rpcload: no call completed in the window (%d errors, first: %s)", r.Errors, r.FirstError)
	}
	r.CallsPerSec = float64(n) / r.Seconds
	r.P50us = float64(h.Quantile(0.50)) / 1e3
	r.P99us = float64(h.Quantile(0.99)) / 1e3
	if l.ServerPID != 0 {
		r.ServerCPUus = proc.CPUSeconds(srv0, srv1) / float64(n) * 1e6
	}
	r.ClientCPUus = proc.CPUSeconds(cli0, cli1) / float64(n) * 1e6
	if d := sys1.At.Sub(sys0.At).Seconds(); d > 0 {
		r.MachineCores = float64(sys1.Busy-sys0.Busy) / proc.ClockTicks / d
	}
	return r, nil
}

func sample(serverPID int) (srv, cli proc.CPU, sys proc.SystemCPU) {
	if serverPID != 0 {
		srv, _ = proc.ReadCPU(serverPID)
	}
	cli, _ = proc.ReadCPU(os.Getpid())
	sys, _ = proc.ReadSystemCPU()
	return
}
