// Package gopool runs connection handlers on a bounded pool of reused
// goroutines instead of one goroutine per connection, and keeps the tasks of
// one connection in order.
//
// The goroutines come from github.com/panjf2000/ants/v2, which recycles them
// and lets idle ones expire (WithExpiry). Pool adds what a poller needs on
// top: a capacity bound with a choice of overload Policy, recovery and
// reporting of panicking tasks, counters (Stats), a Release that waits for
// running tasks, and Serial, an ordered executor per key.
//
// # Ordering
//
// ants does not order tasks. A Serial does: its tasks run one at a time, in
// submission order, on one worker at a time, and an idle Serial holds no
// goroutine. The worker that starts a Serial drains its queue, including
// tasks submitted while it runs, so the poller can hand every readiness of a
// connection to the connection's Serial and its handler sees input in order.
//
// # Nested submission
//
// A task may submit to its pool. With Block and a full pool, a task that
// submits and waits for the result holds a worker while it waits for
// another; if every worker does that at once, none is ever freed. gopool
// prevents it in two ways:
//
//   - A Serial that is running takes new tasks into its queue; they are run
//     by the worker already draining it and never need a new one.
//   - A Block submission made from inside a task never waits: when the
//     pool is full it runs the task on its own goroutine, as CallerRuns
//     would. Whether the caller is inside a task is found by looking for
//     the pool's worker frame on its stack, and only when the pool is full.
//     So no pool task ever waits for a worker, and a task waiting for
//     another task (its child, or one queued behind a running Serial)
//     waits for something that is running or runnable. Submitters outside
//     the pool, such as the poller, wait as Block promises; they hold no
//     worker, so their waiting cannot close a cycle.
//
// A weaker rule (let nested submitters wait while fewer than Capacity of
// them do) was tried first and deadlocks: a task waiting for a task queued
// behind a Serial whose running task waits for a worker holds its worker
// without being a submitter.
//
// CallerRuns and FailFast never wait, so they cannot deadlock this way.
// What no policy can fix is a task waiting for a later task of its own
// Serial: that one runs only after the current task returns.
//
// # Performance
//
// Measured on the 2-vCPU development VM (Go 1.26.8, 2026-11-23, load
// average about 2.5 from other work), with
//
//	go test -run '^$' -bench . -count=5 -benchtime=200000x ./gopool
//
// medians of the 5 runs (ns/op; every case is 0 allocs/op):
//
//	                         go f()   ants   gopool  Serial
//	Submit (1 submitter)        742   1450     1386
//	SubmitParallel (2)         1005   1266     1269
//	RoundTrip (submit, wait)    400    449      504     497
//	Serial, 1 / 64 / 1024 keys                         255 / 169 / 181
//
// Submit hands b.N tasks of ~100 ns from one goroutine and waits at the
// end; RoundTrip waits for each task before submitting the next (the
// latency of waking an idle worker); Serial spreads b.N tasks round-robin
// over that many Serials, whose running workers drain them in batches.
// Single runs vary by up to 2x on this machine; compare within a run.
//
// The goal of 1.2x go f() is not met: Submit is 1.87x, RoundTrip 1.26x,
// SubmitParallel 1.26x (ants used directly is 1.95x, 1.12x and 1.26x):
// gopool is within 12% of ants either way, so ants is the cost. go f()
// takes a free g from the P's cache and allocates nothing either, so a pool
// cannot win on allocations. The CPU profile of RoundTrip shows the cost is
// the ants hand-off, a channel send that readies a parked worker
// (goready, casgstatus, channel lock) plus ants' spin lock, while gopool's
// own work (token CAS, recover, counters) is about 5% of samples. In
// SubmitParallel the two submitters and the finishing workers contend on
// ants' spin lock, which backs off with runtime.Gosched. An ordered
// Serial task costs 100 to 250 ns when the Serial is already running:
// the cost of the queue's mutex, not of a hand-off.
//
// Tasks must not call runtime.Goexit: a Serial whose task does stops
// draining.
package gopool
