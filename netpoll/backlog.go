package netpoll

import (
	"errors"
	"fmt"
	"sync"

	"github.com/upoll/upoll/gopool"
)

// backlog holds the handler runs that found their pool full.
//
// The poller must never wait for a worker, nor run a handler itself
// because the pool is full: the handlers holding the workers may be
// waiting for input the poller has yet to read, or for output it has yet
// to flush, and the poller would then wait for them while they wait for
// it. So the poller only tries the pool (TryGo); a run it cannot start
// goes here, to the queue of its connection's pool. Each queue has one
// goroutine, started on demand and gone when the queue is empty, that
// submits the queue's runs in arrival order under the pool's policy:
// Block waits for a worker, CallerRuns runs the handler on that
// goroutine, FailFast refuses. A refused run closes its connection, with
// ErrPoolOverload as the reason, and one whose pool has closed with
// ErrPoolClosed; the handler does not run, and the hooks due (OnConnect
// if it has not run, then OnDisconnect) run on a goroutine of their own.
//
// A queue per pool, not one per poller: a poller may serve connections
// of several pools (the default dial group serves every Dialer's, each
// with its own WithPool), and the runs of a pool with a free worker must
// not wait behind a run of a full one. Order per connection is kept by
// the runner state word: a connection has at most one run scheduled at a
// time, and its runs all go to its own pool's queue.
type backlog struct {
	mu     sync.Mutex
	queues map[*gopool.Pool]*backlogQueue // pools whose submitter is draining
}

// backlogQueue is one pool's queued runs, drained by one goroutine for
// as long as the queue is in backlog.queues.
type backlogQueue struct {
	pool *gopool.Pool
	runs []backlogRun
}

type backlogRun struct {
	c        *Conn
	queuedAt int64
}

// push queues a run on the queue of c's pool, and starts that queue's
// submitter if none is draining it.
func (b *backlog) push(c *Conn, queuedAt int64) {
	pool := c.owner.cfg.Pool
	b.mu.Lock()
	q := b.queues[pool]
	start := q == nil
	if start {
		if b.queues == nil {
			b.queues = make(map[*gopool.Pool]*backlogQueue)
		}
		q = &backlogQueue{pool: pool}
		b.queues[pool] = q
	}
	q.runs = append(q.runs, backlogRun{c, queuedAt})
	b.mu.Unlock()
	if start {
		go b.drain(q)
	}
}

// pop takes q's oldest run; when there is none it removes q, under the
// same lock, so a concurrent push for its pool starts a new submitter.
func (b *backlog) pop(q *backlogQueue) (backlogRun, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(q.runs) == 0 {
		delete(b.queues, q.pool)
		return backlogRun{}, false
	}
	r := q.runs[0]
	q.runs[0] = backlogRun{}
	q.runs = q.runs[1:]
	return r, true
}

// drain submits q's runs to q's pool, which is every one's
// connection's pool.
func (b *backlog) drain(q *backlogQueue) {
	for {
		r, ok := b.pop(q)
		if !ok {
			return
		}
		c, t := r.c, r.queuedAt
		err := q.pool.Go(func() { c.run(t, false) })
		if err == nil {
			continue
		}
		// Refused, or no pool to run on: the handler must not run here,
		// outside the pool, nor the run be queued again. Close c, then
		// run the runner, which with c closed skips the handler and
		// only releases the runner state and calls the hooks due. On a
		// goroutine of its own: a hook that blocks must not hold up the
		// queue's other runs, the refusals of a storm included (a
		// goroutine per refused connection, which holds a descriptor
		// until then: as many as MaxConns and the fd limit allow).
		c.closeWith(refusal(err))
		go c.run(0, false)
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
		return fmt.Errorf("%w (%w)", ErrPoolClosed, err) // a zero Pool (refused by resolve): say so
	}
	return fmt.Errorf("netpoll: handler refused: %w", err)
}
