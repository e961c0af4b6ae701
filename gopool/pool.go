package gopool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/ants/v2"
)

var (
	// ErrPoolClosed is returned by submissions to a pool that is closed or
	// closing, and by a second Release or Close.
	ErrPoolClosed = errors.New("gopool: pool closed")
	// ErrPoolOverload is returned under FailFast when every worker is busy.
	ErrPoolOverload = errors.New("gopool: pool overloaded")
	// ErrNilTask is returned when the task is nil.
	ErrNilTask = errors.New("gopool: nil task")
)

// errZeroPool is what a Pool not made by New returns, and a Serial not
// made by NewSerial, nil ones included. It matches ErrPoolClosed: such a
// pool never opened, and a caller that stops on a closed pool should
// stop on it too.
var errZeroPool error = zeroPoolError{}

type zeroPoolError struct{}

func (zeroPoolError) Error() string { return "gopool: Pool not made by New" }

func (zeroPoolError) Is(target error) bool { return target == ErrPoolClosed }

// Pool runs tasks on a bounded set of reused goroutines.
//
// The goroutines come from an ants pool, which recycles them and lets idle
// ones expire. The bound itself is a counter of tokens kept here, not ants'
// capacity: the overload policies and the nested-submission rule need to
// know the moment a task ends, and ants hands a worker back only after its
// own bookkeeping, so a submission that raced with it would be refused.
// ants runs unbounded and only ever sees submissions that hold a token.
//
// A Pool is safe for concurrent use. Make one with New: the zero Pool,
// and a nil *Pool, runs nothing, its methods return an error that
// matches ErrPoolClosed, and its Stats are zero.
type Pool struct {
	workers  *ants.PoolWithFunc
	capacity int64 // <= 0: unbounded
	policy   Policy
	onPanic  func(any, []byte)
	logger   *slog.Logger

	// inflight counts tokens: tasks handed to a worker and not finished.
	inflight atomic.Int64
	// inline counts tasks running on a submitter's goroutine.
	inline    atomic.Int64
	completed atomic.Int64
	panics    atomic.Int64
	closed    atomic.Bool

	// Block submitters that find no token count themselves in waiting and
	// sleep on wake. put sends on wake without blocking, so a finishing
	// worker never parks on a lock that submitters contend for (it would
	// then sit in the run queue, unable to return to ants, while new
	// workers are started in its place). closing is closed by Release.
	waiting atomic.Int64
	wake    chan struct{} // capacity 1: at most one pending wake-up
	closing chan struct{}

	idleOnce sync.Once
	idle     chan struct{} // closed once closed and nothing runs
}

// A job, what a worker receives, is a func() task or a *Serial to drain.
// Both are one pointer word, so passing them as any does not allocate.
// (ants' generic PoolWithFuncGeneric would type this, but its workers
// select on two channels per task, which costs more than the conversion.)

// New returns a pool configured by opts. A nil Option stands for no
// option. It fails on an option value that no pool can have (an expiry
// below MinExpiry, an unknown Policy).
func New(opts ...Option) (*Pool, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.expiry < MinExpiry {
		return nil, fmt.Errorf("gopool: expiry %v below MinExpiry (%v)", o.expiry, MinExpiry)
	}
	if o.policy < Block || o.policy > FailFast {
		return nil, fmt.Errorf("gopool: unknown policy %v", o.policy)
	}
	p := &Pool{
		capacity: int64(o.capacity),
		policy:   o.policy,
		onPanic:  o.onPanic,
		logger:   o.logger,
		idle:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		closing:  make(chan struct{}),
	}
	w, err := ants.NewPoolWithFunc(-1, p.work,
		ants.WithExpiryDuration(o.expiry),
		ants.WithLogger(antsLogger{p}),
		// Nothing panics into ants (call recovers a task's panic and
		// its handler's); should something, it is reported, not lost.
		ants.WithPanicHandler(func(r any) { p.log().Error("gopool: worker panicked", "panic", r) }),
	)
	if err != nil {
		return nil, fmt.Errorf("gopool: %w", err)
	}
	p.workers = w
	return p, nil
}

var defaultPool = sync.OnceValue(func() *Pool {
	p, err := New()
	if err != nil {
		panic(err) // the default options are valid
	}
	return p
})

// Default returns the process-wide pool, built on first use with the
// defaults: DefaultCapacity, DefaultExpiry, Block, panics logged on
// slog.Default(). It is meant to live as long as the process; closing it
// closes it for every user.
func Default() *Pool { return defaultPool() }

// Go runs task on a worker. When the pool is full it applies the pool's
// Policy. A panic in task is recovered and reported; the pool keeps
// serving.
func (p *Pool) Go(task func()) error { return p.submit(task, false) }

// TryGo runs task on a worker if one is free and otherwise returns
// ErrPoolOverload at once, whatever the pool's Policy: it never waits and
// never runs task on the caller. It is for a caller that must not block
// or run foreign code, such as a poller goroutine, which then applies the
// policy somewhere else (netpoll hands the task to a backlog goroutine).
func (p *Pool) TryGo(task func()) error { return p.submit(task, true) }

// submit takes a token for task, applying the policy when the pool is
// full unless try is set, and hands task to a worker.
func (p *Pool) submit(task func(), try bool) error {
	if task == nil {
		return ErrNilTask
	}
	if p == nil {
		return errZeroPool
	}
	ok, err := p.take()
	if err != nil {
		return err
	}
	if !ok {
		if try {
			return ErrPoolOverload
		}
		inline, err := p.acquire()
		if err != nil {
			return err
		}
		if inline {
			return p.runInline(task)
		}
	}
	if err := p.workers.Invoke(task); err != nil {
		// Only after Release gave up waiting and closed ants.
		p.put()
		return ErrPoolClosed
	}
	return nil
}

// work is the function every ants worker runs.
func (p *Pool) work(j any) {
	defer p.put()
	runJob(p, j)
}

// runJob runs one job. It is the frame that insideTask looks for on a
// goroutine's stack, hence noinline.
//
//go:noinline
func runJob(p *Pool, j any) {
	switch j := j.(type) {
	case func():
		p.call(j)
	case *Serial:
		j.drain()
	}
}

// runInline runs j on the calling goroutine (CallerRuns, or Block when
// waiting could deadlock), or returns ErrPoolClosed if Release has
// begun.
func (p *Pool) runInline(j any) error {
	if err := p.enterInline(); err != nil {
		return err
	}
	defer p.exitInline()
	runJob(p, j)
	return nil
}

// enterInline counts the caller as running a task inline, unless the
// pool is closed. The caller found the pool full some time ago; the
// tasks that filled it may all have ended since, and Release with them.
// Release sets closed before it looks at inline, so either it sees
// this count and waits for the task, or this load sees closed.
func (p *Pool) enterInline() error {
	p.inline.Add(1)
	if p.closed.Load() {
		p.exitInline()
		return ErrPoolClosed
	}
	return nil
}

// exitInline ends what enterInline began.
func (p *Pool) exitInline() {
	p.inline.Add(-1)
	if p.closed.Load() {
		p.checkIdle()
	}
}

// call runs one user task, recovering a panic.
func (p *Pool) call(task func()) {
	defer func() {
		p.completed.Add(1)
		if r := recover(); r != nil {
			p.report(r, debug.Stack())
		}
	}()
	task()
}

// report hands a task's panic to the panic handler, or logs it. A panic
// in the handler is recovered and logged too: call runs on a submitter
// (inline) or in a Serial's drain, neither of which may be unwound by
// it.
func (p *Pool) report(r any, stack []byte) {
	p.panics.Add(1)
	if p.onPanic == nil {
		p.log().Error("gopool: task panicked", "panic", r, "stack", string(stack))
		return
	}
	defer func() {
		if hr := recover(); hr != nil {
			p.log().Error("gopool: panic handler panicked", "panic", hr, "task_panic", r, "stack", string(debug.Stack()))
		}
	}()
	p.onPanic(r, stack)
}

func (p *Pool) log() *slog.Logger {
	if p.logger != nil {
		return p.logger
	}
	return slog.Default()
}

// take gets a token without waiting. It reports false when the pool is
// full.
func (p *Pool) take() (bool, error) {
	if p.closed.Load() {
		return false, ErrPoolClosed
	}
	if p.workers == nil {
		return false, errZeroPool
	}
	if !p.tryInc() {
		return false, nil
	}
	// Release sets closed before it looks at inflight, so either it sees
	// this token and waits for it, or this load sees closed.
	if p.closed.Load() {
		p.put()
		return false, ErrPoolClosed
	}
	return true, nil
}

// tryInc takes a token if one is left.
func (p *Pool) tryInc() bool {
	if p.capacity <= 0 {
		p.inflight.Add(1)
		return true
	}
	for {
		n := p.inflight.Load()
		if n >= p.capacity {
			return false
		}
		if p.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// put gives a token back and wakes one waiter.
func (p *Pool) put() {
	p.inflight.Add(-1)
	// A waiter increments waiting before it tries for a token, and this
	// load follows the decrement, so a waiter that this misses sees the
	// token free.
	if p.waiting.Load() > 0 {
		p.signal()
	}
	if p.closed.Load() {
		p.checkIdle()
	}
}

// acquire applies the policy once take found the pool full. It returns
// inline=true when the task is to run on the caller; otherwise the caller
// holds a token.
func (p *Pool) acquire() (inline bool, err error) {
	switch p.policy {
	case FailFast:
		return false, ErrPoolOverload
	case CallerRuns:
		return true, nil
	}
	return p.wait()
}

// wait blocks for a token (policy Block). A caller running inside a task
// never waits: when the pool is full it runs the task itself. See "Nested
// submission" in doc.go.
func (p *Pool) wait() (inline bool, err error) {
	if insideTask() {
		return true, nil
	}
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	for {
		if p.closed.Load() {
			return false, ErrPoolClosed
		}
		if p.tryInc() {
			break
		}
		select {
		case <-p.wake:
		case <-p.closing:
		}
	}
	if p.closed.Load() {
		p.put()
		return false, ErrPoolClosed
	}
	// A wake-up is dropped when one is already pending, so two puts can
	// leave one signal for two free tokens. Pass it on while both a token
	// and a waiter are left.
	if p.waiting.Load() > 1 && (p.capacity <= 0 || p.inflight.Load() < p.capacity) {
		p.signal()
	}
	return false, nil
}

// signal wakes one waiter, or leaves a wake-up pending for the next.
func (p *Pool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// checkIdle closes idle once the pool is closed and no task runs.
func (p *Pool) checkIdle() {
	if p.inflight.Load() == 0 && p.inline.Load() == 0 {
		p.idleOnce.Do(func() { close(p.idle) })
	}
}

// Release closes the pool: later submissions fail with ErrPoolClosed and
// blocked ones return it. It then waits for running tasks, and for queued
// tasks of Serials that are running, until they finish or ctx is done, and
// stops the worker goroutines; workers still busy when ctx ends exit after
// their task. It returns ctx's error (wrapped) if ctx ended first, and
// ErrPoolClosed if the pool was already closed.
//
// A submission that races with Release either fails with ErrPoolClosed
// or is one of the tasks Release waits for, whether it runs on a worker
// or on the submitter (CallerRuns, nested Block).
func (p *Pool) Release(ctx context.Context) error {
	if p == nil || p.workers == nil {
		return errZeroPool
	}
	if !p.closed.CompareAndSwap(false, true) {
		return ErrPoolClosed
	}
	close(p.closing)
	p.checkIdle()
	var err error
	select {
	case <-p.idle:
	case <-ctx.Done():
		err = fmt.Errorf("gopool: release: %w", ctx.Err())
	}
	if aerr := p.workers.ReleaseContext(ctx); aerr != nil && err == nil {
		err = fmt.Errorf("gopool: release workers: %w", aerr)
	}
	return err
}

// Close is Release without a deadline: it waits for every running task.
// A task of p that calls Close waits for itself and never returns; a
// task that must end its own pool calls Release with a deadline.
func (p *Pool) Close() error {
	return p.Release(context.Background())
}

// Err reports whether p takes tasks: nil while it does, ErrPoolClosed
// once Release or Close has begun, and an error that matches
// ErrPoolClosed for a Pool not made by New (the zero Pool, or nil),
// which never takes any. A nil Err is no promise about the next
// submission, which a Release on another goroutine may refuse; it is
// for a check at configuration time, such as netpoll's, which refuses
// a pool that could run nothing.
func (p *Pool) Err() error {
	switch {
	case p == nil || p.workers == nil:
		return errZeroPool
	case p.closed.Load():
		return ErrPoolClosed
	}
	return nil
}

// Stats is a snapshot of a pool's counters. Fields are read one by one
// with atomic loads, so they need not be consistent with each other.
type Stats struct {
	Running   int   // tasks running now, on workers or submitters; a draining Serial counts once
	Waiting   int   // submitters blocked for a free worker (Block)
	Capacity  int   // bound on tasks running on workers; <= 0: none
	Completed int64 // tasks that have finished, panicked ones included
	Panics    int64 // tasks that panicked
}

// Stats returns the pool's counters. It takes no lock.
func (p *Pool) Stats() Stats {
	if p == nil {
		return Stats{}
	}
	return Stats{
		Running:   int(p.inflight.Load() + p.inline.Load()),
		Waiting:   int(p.waiting.Load()),
		Capacity:  int(p.capacity),
		Completed: p.completed.Load(),
		Panics:    p.panics.Load(),
	}
}

// antsLogger sends ants' own messages to the pool's logger.
type antsLogger struct{ p *Pool }

func (l antsLogger) Printf(format string, args ...any) {
	l.p.log().Error("gopool: ants: " + fmt.Sprintf(format, args...))
}
