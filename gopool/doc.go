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
// tasks submitted while it runs, so a caller can hand every event of one
// source (a connection, a session) to that source's Serial and have them
// handled in order. (netpoll orders a connection's handler runs itself and
// uses only the Pool.)
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
//     gopool's worker frame on its stack, and only when the pool is full.
//     The frame is the same for every Pool, so this holds for a task of
//     any Pool submitting to a full one (tasks of two pools that wait for
//     each other close a cycle just the same); such a task then runs
//     beside the full pool's workers, outside its size.
//     So no pool task ever waits for a worker, and a task waiting for
//     another task (its child, or one queued behind a running Serial)
//     waits for something that is running or runnable. Submitters outside
//     the pool, such as the poller, wait as Block promises; they hold no
//     worker, so their waiting cannot close a cycle.
//
// CallerRuns and FailFast never wait, so they cannot deadlock this way.
// What no policy can fix is a task waiting for a later task of its own
// Serial: that one runs only after the current task returns.
//
// # Cost
//
// Submitting a task costs an ants hand-off (a channel send that readies a
// parked worker), more than a go statement; gopool's own work on top is
// small, and neither allocates. A task for a Serial that is already
// running costs a mutex-protected queue append, not a hand-off. The
// benchmarks and their figures are in docs/tuning.md of the repository.
//
// Tasks must not call runtime.Goexit: a Serial whose task does stops
// draining.
package gopool
