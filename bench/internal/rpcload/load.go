package rpcload

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/upoll/upoll/bench/internal/hist"
)

// callGrace bounds the wait for the calls in flight when the window
// ends: no healthy call takes seconds, so a caller still waiting then
// had its call lost by the server.
const callGrace = 2 * time.Second

// Load is what Run does.
type Load struct {
	Conns, Inflight, Size int
	Warmup, Window        time.Duration
}

// Tally is what Run counted.
type Tally struct {
	// Calls are the calls answered, and answered right, inside the window.
	Calls uint64
	// VerifiedBytes counts every answer byte compared with its argument,
	// warm-up included.
	VerifiedBytes uint64
	// Errors counts failed calls and wrong answers, warm-up included.
	Errors     uint64
	FirstError string
	// Hist holds the latency of each call of the window, in ns.
	Hist *hist.Histogram
}

// Run keeps Conns x Inflight calls in flight on cl (Inflight callers
// per connection, each waiting for its answer before the next call)
// and checks every answer byte for byte against its argument, which
// carries the caller and a sequence number. It calls mark(0) after the
// warm-up, just before the window opens, and mark(1) just after it
// closes: the caller samples what it measures there. The calls go on,
// uncounted, until mark(1) returns, so that what the caller samples
// there still sees the window's load. A call still unanswered
// callGrace after the window was lost: Run counts it as an error and
// closes cl to free its caller.
func Run(cl Client, l Load, mark func(int)) (Tally, error) {
	const (
		warm = iota
		measure
		over
		stop
	)
	var (
		phase    atomic.Int32
		calls    atomic.Uint64
		verified atomic.Uint64
		errs     atomic.Uint64
		firstErr atomic.Value
		mu       sync.Mutex
		h        = hist.New()
		wg       sync.WaitGroup
		waiting  atomic.Int32 // callers not yet returned
	)
	callers := l.Conns * l.Inflight
	waiting.Store(int32(callers))
	for w := range callers {
		wg.Go(func() {
			defer waiting.Add(-1)
			mine := hist.New()
			arg := make([]byte, max(l.Size, 12))[:l.Size]
			for i := range arg {
				arg[i] = byte('a' + (w+i)%26)
			}
			var checked uint64
			for seq := uint64(0); ; seq++ {
				p := phase.Load()
				if p == stop {
					break
				}
				if len(arg) >= 12 {
					binary.BigEndian.PutUint32(arg, uint32(w))
					binary.BigEndian.PutUint64(arg[4:], seq)
					// The bytes after them change from call to call
					// too: an answer with an earlier call's bytes
					// there (a stale buffer) is wrong.
					v := seq*0x9e3779b97f4a7c15 ^ uint64(w)
					for i := 12; i < len(arg); i++ {
						arg[i] = byte(v>>(8*(i%8))) ^ byte(i)
					}
				}
				t0 := time.Now()
				got, err := cl.Call(w, arg)
				d := time.Since(t0)
				if err == nil {
					checked += uint64(len(got))
					if !bytes.Equal(got, arg) {
						err = fmt.Errorf("%w: caller %d call %d: %d bytes, want %d", errWrongAnswer, w, seq, len(got), len(arg))
					}
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
				// A call answered inside the window counts, as the
				// other workloads count exchanges: also the one each
				// caller had in flight when the window opened.
				if phase.Load() == measure {
					mine.Record(d.Nanoseconds())
					calls.Add(1)
				}
			}
			verified.Add(checked)
			mu.Lock()
			h.Merge(mine)
			mu.Unlock()
		})
	}
	time.Sleep(l.Warmup)
	mark(0)
	calls.Store(0)
	phase.Store(measure)
	time.Sleep(l.Window)
	phase.Store(over)
	n := calls.Load()
	mark(1)
	phase.Store(stop)
	// A lost call would hold its caller, and the run, for ever: past the
	// grace the run fails, and closing the client frees the caller.
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(callGrace):
		errs.Add(1)
		firstErr.CompareAndSwap(nil, fmt.Sprintf("rpcload: %d of %d callers had a call unanswered %v after the window ended",
			waiting.Load(), callers, callGrace))
		cl.Close()
		<-finished
	}
	t := Tally{Calls: n, VerifiedBytes: verified.Load(), Errors: errs.Load(), Hist: h}
	if v, ok := firstErr.Load().(string); ok {
		t.FirstError = v
	}
	if n == 0 {
		return t, fmt.Errorf("rpcload: no call completed in the window (%d errors, first: %s)", t.Errors, t.FirstError)
	}
	return t, nil
}
