// Package netpoll is upoll's user-space network poller: pollers
// (epoll instances, each on its own goroutine), listeners, connections
// with nocopy buffers, a server and a dialer, in pure Go.
//
// # Backends
//
// The poller speaks to the kernel through a backend (backend.go states
// what one must provide and guarantee): epoll on Linux (BackendEpoll).
// BackendStd serves the same API on Go's net package, one goroutine per
// connection, on every OS Go supports; it is the default where there is
// no native backend, and UPOLL=backend=std or WithBackend switches any
// program to it.
//
// # Data path
//
// A poller waits in epoll_wait, maps each event to its connection
// through a registry slot and generation carried in epoll_event.data,
// and reads (readv) into the connection's inbound buffer.LinkBuffer.
// New input wakes a blocked reader and, in handler mode, runs the
// connection's Handler: by default on the poller goroutine itself, run to
// completion, with the poller handed to a new goroutine (not a pool
// worker) when a handler blocks (DispatchHandoff); or on a gopool.Pool,
// or inline. Writes are sent on the writer's goroutine (write, or writev
// for queued output); what the kernel does not take is sent by the
// poller on EPOLLOUT.
//
// # Two ways to use a Server
//
// Handler mode: NewServer(h) runs h whenever input arrives; h reads
// with c.Reader() and writes with c.Writer(). Accept mode:
// NewServer(nil, WithOnConnect(f)) hands each new *Conn to f, and the
// owner uses it as a net.Conn (this is how the net/http adapter works).
// Either way the options are given once, to NewServer: s.Listen opens a
// listener as they ask and s.Serve serves it. A Dialer's connections are
// served by pollers of their own and are used the same way.
//
// # Experiment switches
//
// Trigger (level, edge, one-shot), WaitStrategy (block, spin, runtime,
// adaptive), Dispatch (handoff, pool, inline, each), Balance (round-robin, least
// connections), the number of pollers and SO_REUSEPORT are options of
// the Server; Stats reports per-poller counters so that an experiment can
// explain its result, and PublishExpvar shows them in expvar.
//
// An unchanged program runs in another configuration through the UPOLL
// environment variable (see EnvVar), in the spirit of GODEBUG:
//
//	UPOLL=trigger=edge,wait=spin,pollers=4,dispatch=inline ./server
//
// Precedence, lowest first: DefaultConfig, UPOLL, options in code. A bad
// UPOLL entry (an unknown key, a value that does not parse or is out of
// its key's range) fails NewServer (and Listen, and Dial with options)
// with an *EnvError naming the key; values that are each valid but
// refused together (a budget below one connection's bounds) fail with
// an error wrapping ErrBadConfig.
//
// The defaults suit handlers that may block in a process that does more
// than serve: handlers run on the poller, which hands its loop to a new
// goroutine when one blocks; an idle poller blocks in epoll_wait only
// while the program has nothing else to run and parks in the runtime
// otherwise (WaitAdaptive: no P kept from the program); level triggering;
// buffers bounded per connection and per Server. What each switch costs
// is in docs/tuning.md and docs/handoff.md of the repository.
//
// # Guarantees
//
// The kernel never holds a Go pointer or a bare fd: events carry a slot
// index and generation, and stale events are dropped. A descriptor is
// closed only when no goroutine can be inside a syscall on it (see
// fdState). EINTR is retried everywhere. Handlers of one connection never
// overlap and see its input in order. Input and output are bounded per
// connection (MaxInput, MaxOutput) and per Server (BufferBudget, which
// lets a connection waiting for the rest of a message reach its own
// bound); the connections of a Server, optionally, by MaxConns, beyond
// which (as while PauseAccept holds them) its listeners leave new
// connections in the kernel's backlog. Bytes
// the peer sent before shutting down are delivered before io.EOF. An idle connection holds its Conn and a
// registry slot; buffer memory is taken from the pool when input arrives
// and given back when it is drained. Deadlines, timeouts and idle
// timeouts are counted on the monotonic clock, as Go's net.Conn's are: a
// step of the system's wall clock moves none of them.
package netpoll
