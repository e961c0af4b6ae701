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
// Dispatch (pool, inline), Balance (round-robin, least connections) and
// SO_REUSEPORT are options of the Server; Stats reports per-poller
// counters so an experiment can explain its result.
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
