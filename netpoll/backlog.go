package netpoll

import (
	"errors"
	"fmt"
	"sync"

	"github.com/upoll/upoll/gopool"
)

// backlog holds the handler runs that found the pool full.
//
// The poller must never wait for a worker, nor run a handler itself
// because the pool is full: the handlers holding the workers may be
// waiting for input the poller has yet to read, or for output it has yet
// to flush, and the poller would then wait for them while they wait for
// it. So the poller only tries the pool (TryGo); a run it cannot start
// goes here, and one goroutine per poller, started on demand and gone
// when the backlog is empty, submits the runs in arrival order, each to
// its connection's pool and under that pool's policy: Block waits for a
// worker, CallerRuns runs the handler on that goroutine, FailFast
// refuses. A refused run closes its connection, with ErrPoolOverload as
// the reason, and one whose pool is closed (or not made by gopool.New)
// with ErrPoolClosed; the handler does not run, and the hooks due
// (OnConnect if it has not run, then OnDisconnect) run on the backlog's
// goroutine. Order per
// connection is kept by the runner state word: a connection has at most
// one run scheduled at a time.
type backlog struct {
	mu      sync.Mutex
	runs    []backlogRun
	running bool // a submitter goroutine is draining runs
}

type backlogRun struct {
	c        *Conn
	queuedAt int64
}

// push queues a run and starts the submitter if none is draining.
func (b *backlog) push(c *Conn, queuedAt int64) {
	b.mu.Lock()
	b.runs = append(b.runs, backlogRun{c, queuedAt})
	start := !b.running
	b.running = true
	b.mu.Unlock()
	if start {
		go b.drain()
	}
}

// pop takes the oldest run; when there is none it marks the submitter
// stopped, under the same lock, so a concurrent push starts a new one.
func (b *backlog) pop() (backlogRun, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.runs) == 0 {
		b.running = false
		b.runs = nil // give a burst's backing array back
		return backlogRun{}, false
	}
	r := b.runs[0]
	b.runs[0] = backlogRun{}
	b.runs = b.runs[1:]
	return r, true
}

// drain submits the queued runs, each to its own connection's pool:
// a poller of the default dial group serves the connections of every
// Dialer, whose options may name different pools.
func (b *backlog) drain() {
	for {
		r, ok := b.pop()
		if !ok {
			return
		}
		c, t := r.c, r.queuedAt
		err := c.owner.cfg.Pool.Go(func() { c.run(t, false) })
		if err == nil {
			continue
		}
		// Refused, or no pool to run on: the handler must not run here,
		// outside the pool, nor the run be queued again. Close c, then
		// run the runner here, which with c closed skips the handler and
		// only releases the runner state and calls the hooks due.
		c.closeWith(refusal(err))
		c.run(0, false)
	}
}

// refusal is the reason a connection closes with when its pool's Go
// refused its run with err.
func refusal(err error) error {
	switch {
	case errors.Is(err, gopool.ErrPoolOverload):
		return ErrPoolOverload
	case err == gopool.ErrPoolClosed:
		return ErrPoolClosed
	case errors.Is(err, gopool.ErrPoolClosed):
		return fmt.Errorf("%w (%w)", ErrPoolClosed, err) // a zero Pool: say so
	}
	return fmt.Errorf("netpoll: handler refused: %w", err)
}
