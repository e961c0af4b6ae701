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
// WaitRuntime and level triggering (2026-11-23, UPOLL=dispatch=...):
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
// per message / p99 / messages per second, each against net:
//
//	wait \ dispatch     pool               each               inline
//	block           1.07x 1.17x 0.98x  1.17x 1.46x 0.95x  0.98x 1.09x 0.96x
//	spin            1.34x 1.44x 0.82x  1.40x 1.47x 0.80x  1.06x 1.18x 0.94x
//	runtime         1.16x 1.29x 0.90x  1.21x 1.33x 0.89x  1.08x 1.06x 0.93x
//
// WaitSpin's row predates its yield: with runtime.Gosched on every empty
// poll, spin with the pool measured 1.16x here instead of 1.28x (3
// rounds), and 1.29x instead of 4.46x at 10 connections. WaitBlock, the
// cheapest at 1000 connections, loses at 10 (1.45-1.5x against
// WaitRuntime's 1.06-1.30x for echo, 0.90-0.95x against 0.99-1.03x
// requests/s for http.Server on the adapter), so WaitRuntime stays the
// default.
//
// Edge triggering measured 1.31x (100 conns) and 1.49x (1000) with a
// task per run, against 1.11x and 1.28x level-triggered.
//
// Per message upoll makes exactly one readv and one writev and about
// 0.015 epoll_wait calls (67 events per wait at 1000 connections): the
// kernel's share is the same as the standard library's, and with inline
// dispatch upoll's own user-space work is about 2 µs a message. Handing
// a handler to the pool cost 3-7 µs more with a task per run (a
// goroutine wake-up, often on the other core); DispatchPool's batches
// (see runBatch) recover about half of that. At 10 connections a poller
// pass finds about one event, so batching cannot help, and each message
// also pays the poller's park and wake-up in the runtime and the empty
// epoll_wait(0) before it parks: the bench harness measured 1.2-1.5x the
// standard library's CPU per message there (inline 1.17x, WaitBlock
// 1.45-1.5x, WaitSpin 1.29x). Before they learned to yield their P to
// the goroutines a pass readied (WaitBlock before it blocks in
// epoll_wait, WaitSpin on every empty poll) they measured 2.0-2.3x and
// 4.46x there.
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
// in the same runs. With many busy connections WaitBlock is the cheaper
// (table above): UPOLL=wait=block. Level-triggered, because edge-triggered
// measured 10-30% more CPU per message: it reads until EAGAIN, one more
// read per event when messages are small.
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
