// Package netpoll is upoll's user-space epoll network poller: pollers
// (epoll instances, each on its own goroutine), listeners, connections
// with nocopy buffers, a server and a dialer, in pure Go (no cgo).
//
// # Data path
//
// A poller waits in epoll_wait, maps each event to its connection
// through a registry slot and generation carried in epoll_event.data,
// and reads (readv) into the connection's inbound buffer.LinkBuffer.
// New input wakes a blocked reader and, in handler mode, schedules the
// connection's Handler (on a gopool.Pool, or inline). Writes are sent
// with writev on the writer's goroutine; what the kernel refuses is
// sent by the poller on EPOLLOUT.
//
// # Two ways to use a Server
//
// Handler mode: NewServer(h) runs h whenever input arrives; h reads
// with c.Reader() and writes with c.Writer(). Accept mode:
// NewServer(nil, WithOnConnect(f)) hands each new *Conn to f, and the
// owner uses it as a net.Conn (this is how the net/http adapter works).
//
// # Experiment switches
//
// Trigger (level, edge, one-shot), WaitStrategy (block, spin, runtime),
// Dispatch (pool, inline, each), Balance (round-robin, least connections) and
// SO_REUSEPORT are options of the Server; Stats reports per-poller
// counters so an experiment can explain its result, and PublishExpvar
// shows them in expvar.
//
// An unchanged program runs in another configuration through the UPOLL
// environment variable (see EnvVar), in the spirit of GODEBUG:
//
//	UPOLL=trigger=edge,wait=spin,pollers=4,dispatch=inline ./server
//
// Precedence, lowest first: DefaultConfig, UPOLL, options in code. A bad
// UPOLL fails NewServer (and Listen, and Dial with options) with an
// *EnvError naming the key.
//
// # What the switches cost (measured)
//
// Server CPU per message of echo ping-pong relative to a
// goroutine-per-connection net server measured in the same run
// (BenchmarkEcho in this package; server in a child process, CPU from
// /proc; medians of 3 interleaved rounds on a 2-vCPU VM shared with
// other work, so ratios move by about 0.1). Dispatch, with the default
// WaitRuntime and level triggering, before the waits learned to yield
// (2026-11-23, UPOLL=dispatch=...):
//
//	dispatch                 100 conns        1000 conns
//	                        64 B   4 KiB     64 B   4 KiB
//	pool (batched, default) 1.09x  1.12x     1.29x  1.19x
//	each (task per run)     1.20x  1.26x     1.34x  1.40x
//	inline                  1.05x  1.04x     1.04x  1.04x
//
// In absolute terms, at 1000 connections x 64 B, batching took the
// server from 20.0 to 17.2 µs a message and from 38k to 57k messages/s
// (the standard library: 13.3-15.7 µs, 64-73k); p99 was alike (39-64 ms
// both ways). Wait strategy x dispatch at 1000 connections x 64 B, all
// in one run (5 interleaved rounds, UPOLL=wait=...,dispatch=...), CPU
// per message / p99 / messages per second, each against net, after the
// waits learned to yield their P (below):
//
//	wait \ dispatch     pool               each               inline
//	block           1.05x 1.22x 0.97x  1.18x 1.36x 0.91x  1.02x 1.08x 0.99x
//	spin            1.05x 1.21x 0.99x  1.19x 1.31x 0.91x  1.07x 1.11x 0.97x
//	runtime         1.05x 1.32x 0.94x  1.22x 1.32x 0.89x  0.95x 1.13x 1.00x
//
// Yielding the P matters as much as batching. A poller that readies
// handler goroutines and then waits keeps them off its P: WaitBlock
// blocked in epoll_wait holding the P, WaitSpin spun on it, WaitRuntime
// polled again before they ran. Now WaitBlock polls once more and calls
// runtime.Gosched before blocking, WaitSpin yields on every empty poll,
// and WaitRuntime yields after a pass with 2 or more events. With the
// pool at 1000 connections that took block from 1.27x to 1.05x, spin
// from 1.34x to 1.05x and runtime from 1.16x to 1.05x (the same table
// measured before); at 10 connections (bench harness) block from
// 2.0-2.3x to 1.45-1.5x, spin from 4.46x to 1.29x, runtime from
// 1.28-1.30x to 1.18-1.28x. WaitRuntime stays the default for its lead
// at 10 connections and for http.Server on the adapter.
//
// Edge triggering measured 1.31x (100 conns) and 1.49x (1000) with a
// task per run, against 1.11x and 1.28x level-triggered.
//
// The configuration that costs least CPU per message makes no hand-off
// at all: one poller blocking in epoll_wait and running the handlers
// itself (UPOLL=dispatch=inline,wait=block,pollers=1), which is gnet's
// design with a single loop. Bench harness with -variants, 5 interleaved
// rounds, 64 B, 2026-11-23 17:38 UTC; CPU per message (median of
// per-round ratios), p99 (ratio of medians) and messages per second,
// each against net:
//
//	conns   inline, block, 1 poller    defaults
//	10      0.96x  0.65x  0.76x        1.23x  1.53x  0.79x
//	100     0.92x  0.76x  0.83x        1.06x  0.98x  0.93x
//	1000    0.84x  0.86x  0.98x        1.02x  1.16x  1.00x
//
// It is cheap because the whole server is one thread (0.68-0.78 of a
// core, net 0.91-0.94), so where connections are few it serves fewer
// messages a second; its handlers must not block, and on a machine with
// more cores than this 2-vCPU VM one poller caps the server at one core.
// No design measured here reaches 0.75x net's CPU per message: gnet
// v2.9.7 (one loop per P) measured 0.95x-1.01x in the same runs (0.85x
// once), cloudwego/netpoll 1.05x-1.19x, nbio v1.6.8 (one poller on this
// machine, handlers on it: the same shape) 0.84x-0.88x in three
// default-suite runs, and a profile of the
// single-poller configuration puts 82% of its CPU in the read, write and
// epoll_wait syscalls (writev 57%, readv 24%, epoll_wait 7%) that every
// design makes per message. Issuing read/write instead of readv/writev
// for single vectors changed nothing measurable (BenchmarkEcho, 3
// interleaved rounds of each build) and was not kept. The bench's
// floor-echo target makes those syscalls and nothing else (one locked
// thread, epoll_wait, read, write, no buffers or goroutines): it measured
// 0.89x, 0.80x and 0.81x net's CPU per message at 10, 100 and 1000
// connections (5 rounds, 19:44 UTC), so 0.75x is below what the kernel
// alone charges here; the single-poller inline configuration measured
// 0.94x, 0.92x and 0.92x in those rounds, about 1.5 us a message above
// the floor.
//
// Keeping the pool (handlers may block) and changing only the poller,
// one poller blocking in epoll_wait (UPOLL=wait=block,pollers=1) against
// the defaults, three default-suite runs each (2026-11-23, 17:59-18:49
// UTC), CPU per message and p99 against net: 10 connections 1.04-1.25x
// and 0.67-0.70x (defaults 1.21-1.30x, 1.21-1.76x), 100 connections
// 0.89-1.02x and 0.71-0.79x (1.01-1.04x, 0.86-1.02x), 1000 connections
// 1.13-1.21x and 1.07-1.25x (0.99-1.17x, 1.19-1.48x); pipelined echo
// 0.93-0.95x CPU, churn 0.89-0.91x. For a server with its process to
// itself that is the better setting below 1000 connections; it is not
// the default because clients in the same process lost a quarter of
// their throughput to it (see DefaultConfig).
//
// Per message upoll makes exactly one readv and one writev and, counting
// every epoll_wait syscall, 0.034 of them at 1000 connections (about 29
// events per call) and 0.21 at 100 (UPOLL_BENCH_STATS=1): the
// kernel's share is the same as the standard library's, and with inline
// dispatch upoll's own user-space work is about 2 µs a message. Handing
// a handler to the pool cost 3-7 µs more with a task per run (a
// goroutine wake-up, often on the other core); DispatchPool's batches
// (see runBatch) recover about half of that. At 10 connections a poller
// pass finds about one event, so batching cannot help, and each message
// also pays the poller's park and wake-up in the runtime and the empty
// epoll_wait(0) before it parks: the bench harness measured 1.18-1.3x
// the standard library's CPU per message there with WaitRuntime (inline
// 1.17x, WaitBlock 1.45-1.5x, WaitSpin 1.29x), cloudwego/netpoll 1.02-1.12x.
//
// Defaults and why: DispatchPool, because a handler may block (the
// nocopy Reader waits for a whole frame), and an inline handler that
// blocks stalls every connection of its poller; choose DispatchInline
// for handlers that only use what is buffered. Batched, because it cost
// less CPU than a task per run in every case measured, and a blocking
// handler delays the runs batched with it by RescueDelay at most.
// WaitRuntime, because a poller parked in the runtime's netpoller holds
// no OS thread and wakes on the P that runs what it readies, and it does
// best where connections are few: http.Server on the nethttp adapter
// served 1.24x the standard library's requests/s at 10 connections with
// it and 0.51x with WaitBlock as it first was; WaitBlock now yields
// before blocking and serves 0.90-0.95x there, WaitRuntime 0.99-1.03x
// in the same runs. Level-triggered: edge-triggered measured 10-30%
// more CPU per message while it read until EAGAIN, one more read per
// event when messages are small. Since a short read ends its turn (see
// EdgeTriggered) it makes one read per message too and measures alike:
// BenchmarkEcho at 1000 conns x 64 B, 3 interleaved rounds, 1.02x the
// standard library's CPU per message against 1.28x before (level 1.01x
// and 1.15x in the same rounds); bench harness, 5 rounds, 64 B, 19:40
// UTC: edge 1.26x, 1.10x, 1.02x at 10, 100, 1000 conns, level 1.21x,
// 1.08x, 1.00x. Level-triggered stays, for nothing measured favours
// edge and it disarms EPOLLIN at the input bound.
//
// A Server without a handler (accept mode: the nethttp adapter; the
// dialer's pollers) starts DefaultPollers(false) pollers, a quarter of
// GOMAXPROCS, and WaitRuntime yields only after its passes of 32 events
// or more (busyReaders in poller.go): both measured on http.Server's
// tail latency, with the figures in those two places.
//
// # Memory per connection
//
// An idle connection holds its Conn (288 bytes: the two LinkBuffers are
// 72 bytes each, the peer address one word) and a 16-byte registry slot;
// buffer nodes are taken from the pool when input arrives and given back
// when it is drained, and a 48-byte waiter, which also holds that
// side's deadline, exists only once a goroutine has blocked on the
// connection or set a deadline (net/http on the adapter does both). An
// IPv6 peer's address lives in the connection's rarely-set extension.
// Measured with the bench harness's idle case (5,000 connections after
// one exchange each; 12 default-suite runs, three of them with the
// WaitBlock defaults tried at 18:41 (see DefaultConfig), and one
// idle-only run, 2026-11-23 17:34-19:11 UTC): 314-321 B of live heap per connection;
// one more connection, from 2,500 to 5,000, cost 346-405 B of RSS (400
// B or less in 11 runs of 13) and 305-357 B of heap+stack (goal 400 B);
// averaged over all 5,000, which adds the fixed costs of the first
// connections (the pool's idle workers, kept 10 s; threads), 505-582 B
// of RSS. The standard library: 5.6 KB with a 2 KiB read buffer, 7.7 KB
// with 4 KiB; in the same runs one more connection cost gnet v2.9.7
// 421-446 B and nbio v1.6.8 415-460 B.
//
// # Invariants
//
// The kernel never holds a Go pointer or a bare fd: events carry a
// slot index and generation, and stale events are dropped. A
// descriptor is closed only when no goroutine can be inside a syscall
// on it (see fdState). EINTR is retried everywhere. Handlers of one
// connection never overlap. Input and output per connection are
// bounded (MaxInput, MaxOutput). Bytes the peer sent before shutting
// down are delivered before io.EOF.
package netpoll
