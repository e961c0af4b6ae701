package gopool

import (
	"log/slog"
	"strconv"
	"time"
)

// Policy says what Go and Serial.Submit do when every worker of a bounded
// pool is busy.
type Policy int

const (
	// Block waits until a worker is free. It is the default. A submission
	// made from inside a task of the pool waits only while that cannot
	// deadlock; see "Nested submission" in the package documentation.
	Block Policy = iota
	// CallerRuns runs the task on the submitting goroutine, which slows the
	// submitter down to the pool's pace instead of queueing without bound.
	CallerRuns
	// FailFast returns ErrPoolOverload at once and does not run the task.
	FailFast
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case Block:
		return "Block"
	case CallerRuns:
		return "CallerRuns"
	case FailFast:
		return "FailFast"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// Defaults used by New when an option is not given.
const (
	// DefaultCapacity bounds the number of tasks running at once. A poller
	// hands one task per ready connection, so this is also the number of
	// connections whose handlers can run at the same time.
	DefaultCapacity = 10_000
	// DefaultExpiry is how long an idle worker goroutine is kept for reuse
	// before it exits. Longer keeps bursty load from re-creating goroutines;
	// shorter gives their stacks back sooner.
	DefaultExpiry = 10 * time.Second
	// MinExpiry is the shortest expiry New accepts. The pool looks for
	// idle workers to end once per expiry, even with none: an idle pool
	// costs the CPU of one such look per expiry, which near a
	// microsecond is most of a core.
	MinExpiry = 10 * time.Millisecond
)

// Option configures a Pool built by New. A nil Option changes nothing.
type Option func(*options)

type options struct {
	capacity int
	expiry   time.Duration
	policy   Policy
	onPanic  func(recovered any, stack []byte)
	logger   *slog.Logger
}

func defaultOptions() options {
	return options{capacity: DefaultCapacity, expiry: DefaultExpiry, policy: Block}
}

// WithCapacity bounds how many tasks run at once (default DefaultCapacity).
// n <= 0 removes the bound: every submission then gets a worker at once and
// the policy never applies.
func WithCapacity(n int) Option {
	return func(o *options) { o.capacity = n }
}

// WithExpiry sets how long an idle worker lives before it exits (default
// DefaultExpiry). d must be at least MinExpiry.
func WithExpiry(d time.Duration) Option {
	return func(o *options) { o.expiry = d }
}

// WithPolicy chooses what a submission does when the pool is full (default
// Block).
func WithPolicy(p Policy) Option {
	return func(o *options) { o.policy = p }
}

// WithPanicHandler replaces the default report of a panicking task (an
// Error record on the pool's logger, with the stack). h is called on the
// goroutine that ran the task, with the value given to panic and the stack
// of the panic; the pool keeps serving afterwards. A panic in h is
// recovered and logged on the pool's logger: it does not reach the
// goroutine that submitted the task, even when the task ran on it, and
// the task's Serial goes on to its next task. A nil h keeps the default.
func WithPanicHandler(h func(recovered any, stack []byte)) Option {
	return func(o *options) { o.onPanic = h }
}

// WithLogger sets the logger used to report panics (default, and for a
// nil l, slog.Default(), looked up at the time of the panic).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}
