package load

import (
	"errors"
	"fmt"

	"github.com/upoll/upoll/bench/internal/rpcload"
)

// rpc drives the RPC workload: Inflight calls in flight on each of Conns
// connections of Client, every answer compared byte for byte with its
// argument (a wrong one is an error like a failed call). An operation is
// one call.
func (r *run) rpc(sample func(int)) error {
	cl, err := rpcload.Dial(r.cfg.Client, r.cfg.Addr, r.cfg.Conns)
	if err != nil {
		return err
	}
	defer cl.Close()
	r.mu.Lock()
	r.client = fmt.Sprint(cl)
	r.mu.Unlock()
	t, err := rpcload.Run(cl, rpcload.Load{Conns: r.cfg.Conns, Inflight: max(r.cfg.Inflight, 1), Size: r.cfg.Size,
		Warmup: r.cfg.Warmup, Window: r.cfg.Duration}, sample)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hist = t.Hist
	r.ops = t.Calls
	r.bytes = t.Calls * uint64(r.cfg.Size)
	r.verified = t.VerifiedBytes
	r.errs = int(t.Errors)
	if t.FirstError != "" {
		r.firstErr = errors.New(t.FirstError)
	}
	if err != nil && r.firstErr == nil {
		// No call completed in the window, and none failed: say so.
		r.errs++
		r.firstErr = err
	}
	return nil
}
