package netpoll

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/upoll/upoll/gopool"
)

// Backend selects what serves a Server's (or a Dialer's) connections.
type Backend int

const (
	// BackendDefault is the native backend where the OS has one (epoll
	// on Linux) and BackendStd elsewhere. Config reports the backend it
	// chose.
	BackendDefault Backend = iota
	// BackendEpoll is upoll's own poller on epoll (Linux only): the
	// switches Trigger, Wait, Spin, Dispatch, Balance, Pollers and
	// ReusePort apply to it.
	BackendEpoll
	// BackendStd serves connections on Go's net package: one goroutine
	// per connection of a Server with a handler reads into the
	// connection's buffer and runs the handler itself; without a handler
	// reads and writes are blocking calls on the caller's goroutine, as
	// with a net.Conn. The API, timeouts, bounds, hooks and Stats are the
	// same, except that the counters of a poller's loop (Waits, Parks,
	// Wakeups, Events, MaxEventsPerWait, StaleEvents, the EAGAIN counts,
	// Batches, BatchedRuns, Rescues and the hand-off counts) stay 0; the
	// poller switches above do not apply (Config.String shows them as
	// n/a). It runs on every OS Go supports.
	BackendStd
	// BackendUring is upoll's poller on io_uring (Linux only): events
	// and input arrive as completions, one io_uring_enter per pass
	// submits and waits (see uring_linux.go). It needs Linux 6.0 or
	// later (multishot receive into provided buffer rings). Where
	// io_uring cannot be used, asking for it is an error naming the
	// cause. Under
	// DispatchInline or DispatchPool with WaitBlock each poller's ring
	// has a single issuer, the poller's goroutine, locked to its thread
	// for the poller's life, and the kernel defers the completions' work
	// to that thread's waits (IORING_SETUP_SINGLE_ISSUER and
	// DEFER_TASKRUN where the kernel has them).
	BackendUring
)

// nativeBackend is what BackendDefault means on this OS.
var nativeBackend = func() Backend {
	if hasNativeBackend {
		return BackendEpoll
	}
	return BackendStd
}()

// Trigger selects how connections are registered with epoll.
type Trigger int

const (
	// LevelTriggered registers with plain EPOLLIN: one read per event;
	// a connection over its input bound has EPOLLIN disarmed.
	LevelTriggered Trigger = iota
	// EdgeTriggered registers with EPOLLET: the poller reads until the
	// socket is drained, at most 256 KiB per event; a
	// connection that uses its budget is queued on the poller and read
	// again after the other ready connections, since the kernel will not
	// notify it again. Drained is EAGAIN, or for TCP a read shorter than
	// asked when the event reported no hang-up, error or urgent data: the
	// usual small message then costs one read, not two.
	EdgeTriggered
	// OneShot registers with EPOLLONESHOT: after an event the
	// connection is re-armed with EPOLL_CTL_MOD once its handler is done
	// (or at once in accept mode). A short read ends the turn: the
	// re-arm reports whatever is left. Until the re-arm nothing more is
	// read, whether the handler run is running or still waiting for a
	// worker of a full pool: later input, the peer's end and the input
	// bound are seen after the run, and meanwhile the kernel's socket
	// buffer holds what the peer sends (its window then closes).
	// Level- and edge-triggered connections read on, up to the input
	// bound, while their run waits or runs.
	OneShot
)

// edgeBudget is the most bytes an edge-triggered connection reads per
// event before yielding to the other ready connections.
const edgeBudget = 256 << 10

// WaitStrategy selects how a poller waits for events.
type WaitStrategy int

const (
	// WaitDefault, the zero value, asks for the default: WaitAdaptive
	// for a Server with a handler, WaitRuntime for one without (accept
	// mode, dialed connections).
	WaitDefault WaitStrategy = iota
	// WaitRuntime parks in the Go runtime's netpoller on the
	// (nonblocking) epoll fd: holds no OS thread and keeps no P from
	// the rest of the process while idle, and wakes on the P that then
	// runs the goroutines it readies. The default of a Server without a
	// handler, whose pollers wake goroutines blocked in Read.
	WaitRuntime
	// WaitBlock blocks in epoll_wait(-1): lowest CPU, holds an OS thread
	// per poller while idle.
	WaitBlock
	// WaitSpin polls with epoll_wait(0) up to Spin times while nothing
	// is ready, then blocks: lower wake-up latency, more CPU.
	WaitSpin
	// WaitAdaptive blocks in epoll_wait like WaitBlock while no other
	// goroutine of the process is runnable or running, no other poller
	// of the process waits parked in the runtime (a Dialer's, a
	// WaitRuntime Server's, or a WaitAdaptive one that parked), and
	// fewer than GOMAXPROCS-1 pollers of the process already block
	// there; otherwise it parks in the runtime like WaitRuntime. A
	// blocked poller holds its P only while no goroutine wants one, and
	// never the last one, so the rest of the program is not starved, and
	// never while a parked poller needs a thread to poll the runtime's
	// netpoller for it; after a park in the runtime it first has the
	// runtime wake an idle thread, which polls the netpoller in place of
	// the one the poller woke on, so goroutines waiting on Go's own
	// sockets are not left to sysmon's poll. A server with the process
	// to itself waits and wakes as cheaply as with WaitBlock. The default
	// of a Server with a handler.
	WaitAdaptive
)

// Dispatch selects where handlers run.
type Dispatch int

const (
	// DispatchHandoff runs each handler to completion on the poller
	// goroutine that read its input (default): no goroutine hand-off
	// and no cross-thread wake-up per message. When a handler blocks —
	// it waits for more input or for output room, or the poller's
	// watchdog sees it still running a tick or two after it started (a
	// tick is 1 ms while handlers run, up to 8 ms on a quiet server; a
	// sleep, a lock, a blocking syscall, a long computation)
	// — the poller's duty passes to a new goroutine, which goes on with
	// the rest of the pass and the loop; the goroutine whose handler
	// blocked finishes that connection's run and then ends. Handlers
	// may block as under DispatchPool; a handler that blocks costs one
	// hand-off, not a stall of its poller. The goroutine that takes over
	// is started afresh, not taken from the pool: it keeps the loop
	// until the next hand-off, so the pool's capacity and policy bound
	// its own tasks (OnConnect hooks, runs after a Close), not
	// hand-offs.
	DispatchHandoff Dispatch = iota
	// DispatchPool runs handlers on the gopool, one at a time per
	// connection and in input order. The handler runs that one epoll
	// wait makes ready share up to GOMAXPROCS pool tasks, each claiming
	// the next connection of the batch when its handler returns: fewer
	// goroutine hand-offs than a task per connection. A handler that
	// blocks holds only its own task; runs of the batch still unclaimed
	// after a millisecond get a task each.
	DispatchPool
	// DispatchInline runs handlers, OnConnect, and OnDisconnect where
	// the poller closed the connection, on the poller goroutine with no
	// hand-off (the hooks' waits say ErrWouldBlock as a handler's do,
	// below): a slow handler stalls every
	// connection of its poller, and a handler must not wait for more
	// input nor for the peer to take its output (its Reader calls that
	// would block, and its Flush or Write that would wait above
	// MaxOutput, return ErrWouldBlock; that output stays queued and is
	// sent after the handler returns, and the handler runs again for
	// the input it left once the output has drained to MaxOutput).
	// Its waits on other connections of DispatchInline Servers of the
	// native backends say ErrWouldBlock as well; on others they wait
	// (see ErrWouldBlock). Other goroutines using the connection
	// meanwhile wait as usual;
	// on the native backends, a handler's read (or write) that would
	// wait for another goroutine's read (write) of the connection that
	// waits for the poller gets ErrWouldBlock too. A dial from such a
	// handler through its own Server puts the connection on the
	// handler's poller and waits for the connect on the poller's
	// goroutine.
	DispatchInline
	// DispatchEach runs handlers on the gopool like DispatchPool, with
	// one pool task per connection run (no batching): the hand-off cost
	// DispatchPool saves, for comparison.
	DispatchEach
)

// rescueDelay is how long a handler run may wait unclaimed in a
// DispatchPool batch whose tasks are all busy before it gets a pool
// task of its own: the most a blocking handler delays the connections
// that became ready with it.
const rescueDelay = time.Millisecond

// Balance selects the poller a new connection is assigned to.
type Balance int

const (
	// RoundRobin assigns connections to pollers in turn (default).
	RoundRobin Balance = iota
	// LeastConnections assigns to the poller with the fewest live
	// connections.
	LeastConnections
)

// Defaults of the options below.
const (
	// DefaultSpin is the number of empty epoll_wait(0) polls WaitSpin
	// makes before it blocks.
	DefaultSpin = 100
	// DefaultMaxInput bounds the unread input buffered per connection
	// of a Server with a handler; reading stops at the bound until the
	// handler drains. docs/memory.md has the measurements behind it.
	DefaultMaxInput = 256 << 10
	// DefaultMaxOutput bounds the unsent output queued per connection
	// of a Server with a handler; Flush blocks above it.
	DefaultMaxOutput = 256 << 10
	// DefaultReadAhead is MaxInput for a Server without a handler (the
	// net.Conn use: the nethttp adapter, dialed connections): the poller
	// reads at most this much ahead of Read, as Go's net leaves unread
	// bytes in the kernel; a reader waiting for more (Reader.Next(n))
	// raises it to what it waits for.
	DefaultReadAhead = 8 << 10
	// DefaultWriteBehind is MaxOutput for a Server without a handler:
	// Writer.Flush blocks above it. Write always waits until the kernel
	// has taken all of its bytes.
	DefaultWriteBehind = 64 << 10
	// defaultBudget is the buffer budget of a Server when no memory
	// limit is set (see DefaultBufferBudget).
	defaultBudget = 8 << 20
	// minBudget is the least budget derived from a memory limit.
	minBudget = 4 << 20
)

// DefaultBufferBudget is the buffer budget a Server gets unless UPOLL
// or WithBufferBudget says otherwise: a quarter of the Go memory limit
// (debug.SetMemoryLimit, GOMEMLIMIT) when one is set, at least 4 MiB;
// 8 MiB otherwise. It is raised to MaxInput+MaxOutput when those are
// larger, so that one connection can always reach its own bounds.
func DefaultBufferBudget() int64 {
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
		return max(lim/4, minBudget)
	}
	return defaultBudget
}

// Config is the complete configuration of a Server (and of the pollers
// that serve dialed connections). A zero field means its default, named
// beside it: NewServer, Listen and Dial resolve the zero fields, and
// Server.Config returns the resolved values. The defaults differ in
// Pollers, MaxInput and MaxOutput between a Server with a handler and
// one without (accept mode, dialed connections); DefaultConfig shows
// those of a Server with a handler.
type Config struct {
	Backend     Backend       // default BackendDefault: epoll on Linux, BackendStd elsewhere
	Pollers     int           // epoll instances; default DefaultHandlerPollers or DefaultAcceptPollers
	Trigger     Trigger       // default LevelTriggered
	Wait        WaitStrategy  // default WaitAdaptive with a handler, WaitRuntime without
	Spin        int           // WaitSpin empty polls before blocking; default DefaultSpin
	Dispatch    Dispatch      // default DispatchHandoff
	Balance     Balance       // default RoundRobin
	ReusePort   bool          // Server.Listen opens one SO_REUSEPORT socket per poller; default false
	ReadTimeout time.Duration // per blocking read wait (Reader/Read); 0 = none (default)
	// WriteTimeout bounds a blocking Write/Flush wait; 0 = none
	// (default). A wait counts again once MaxOutput bytes have gone out
	// since it began, so a peer reading steadily is not cut.
	WriteTimeout time.Duration
	IdleTimeout  time.Duration // close after no I/O for this long; 0 = never (default)
	// MaxInput bounds the unread input per connection in bytes; default
	// DefaultMaxInput with a handler, DefaultReadAhead without one.
	MaxInput int
	// MaxOutput bounds the unsent output per connection in bytes; default
	// DefaultMaxOutput with a handler, DefaultWriteBehind without one.
	MaxOutput int
	// BufferBudget bounds the input and output buffered by all the
	// connections of a Server together, in bytes; default
	// DefaultBufferBudget. From half of it on, the pollers read each
	// connection only up to its share of the other half (once the
	// whole budget is used, a share is one read: shares taken while few
	// connections were open cannot be taken back), and stop reading
	// those that hold more until the buffers drain. A
	// connection waiting for the rest of a message it will consume (a
	// reader blocked for n bytes, or a handler that returned leaving
	// input unconsumed) is exempt, within its own bound (MaxInput, or
	// the n a reader asks for): pausing it could leave every connection
	// waiting for the others. The total is thus at most the budget plus
	// that bound per such connection. ReadTimeout bounds how long a
	// blocked reader lets a peer hold it so; a handler that returned
	// leaving input is no reader, and only IdleTimeout (off by default)
	// closes its connection once the peer sends nothing more. Once
	// the budget is pressed, Flush and FlushAsync also wait until the
	// connection's output is within its share (less its input, at least
	// a small buffer's worth), so that large answers to small requests
	// stay within the budget too, give or take a write batch per
	// connection; an inline handler keeps MaxOutput. Under
	// DispatchHandoff the input a poller hands to the handler it runs
	// itself is counted when that run ends or its handler blocks, so at
	// most one read per poller is outside the count.
	BufferBudget int64
	// MaxConns bounds the connections a Server holds open at once; 0 =
	// no limit (default). At the limit its listeners stop accepting:
	// further connections wait in the kernel's listen backlog, of which
	// the Server reads nothing, until one of its connections is closed.
	// It does not apply to dialed connections.
	MaxConns  int
	Pool      *gopool.Pool  // handler pool; default (nil) gopool.Default(); one that takes no tasks (gopool.Pool.Err) is a configuration error
	OnConnect func(c *Conn) // runs once per connection before its first handler
	// OnDisconnect runs once per connection after it is closed and its
	// last handler returned; err is why it closed: nil for a Close, or
	// for the peer's orderly close (EOF) once the handler has seen it;
	// else the error (a reset, a timeout, the handler's error or panic).
	// OnConnect, when set, has run before it, even for a connection
	// closed before its first handler.
	OnDisconnect func(c *Conn, err error)

	// set records which poller switches and whether the backend were
	// given by an option, for the check of BackendStd against the
	// switches that do not apply to it (see resolve).
	set uint16
}

// Bits of Config.set.
const (
	optBackend uint16 = 1 << iota
	optPollers
	optTrigger
	optWait
	optSpin
	optDispatch
	optBalance
	optReusePort

	// optConfig: WithConfig replaced the configuration, so UPOLL's
	// switches count no more (buildConfig). optCfgTrigger: the Config it
	// was given had its trigger chosen (by an option of the Server that
	// reported it), which keeps it under BackendUring; it is not a
	// switch given with WithConfig, so no conflict with BackendStd.
	// Bits of their own, before optStdConflict: after it, a constant
	// without an expression repeats optStdConflict's, and they were
	// every switch at once.
	optConfig
	optCfgTrigger

	// optStdConflict are the switches that, asked for together with
	// BackendStd in the same layer (code or UPOLL), are an error.
	optStdConflict = optPollers | optTrigger | optWait | optSpin | optDispatch | optBalance | optReusePort
)

// DefaultConfig returns the configuration of a Server with a handler
// when neither UPOLL nor an option changes it: every field at its
// default. A Server without a handler differs in Pollers
// (DefaultAcceptPollers), MaxInput (DefaultReadAhead) and MaxOutput
// (DefaultWriteBehind). Pool is left nil, which stands for
// gopool.Default(), so that DefaultConfig does not start that pool.
func DefaultConfig() Config { return defaults(true) }

// defaults is where the defaults are written, once: what each zero
// field of a Config stands for in a Server with a handler (handler) or
// without one. resolve fills a Config from it, DefaultConfig returns it,
// and Config.String shows a zero field as its value here; the enums'
// defaults are their zero values, so that asking for the default and
// leaving the field alone mean the same.
func defaults(handler bool) Config {
	d := Config{
		Backend:      nativeBackend,
		Pollers:      DefaultAcceptPollers(),
		Trigger:      LevelTriggered,
		Wait:         WaitRuntime,
		Spin:         DefaultSpin,
		Dispatch:     DispatchHandoff,
		Balance:      RoundRobin,
		MaxInput:     DefaultReadAhead,
		MaxOutput:    DefaultWriteBehind,
		BufferBudget: DefaultBufferBudget(),
	}
	if handler {
		d.Pollers, d.MaxInput, d.MaxOutput = DefaultHandlerPollers(), DefaultMaxInput, DefaultMaxOutput
		d.Wait = WaitAdaptive
	}
	return d
}

type config = Config

// Option sets one field (or, WithConfig, all) of the Config of a
// Server, a Listener or a Dialer. NewServer, Listen and Dial apply the
// options in order on top of the UPOLL override, so a later option
// wins over an earlier one and every option wins over UPOLL; an option
// that sets a field to its zero value asks for the default.
type Option func(*Config)

// WithPollers sets the number of pollers (epoll instances); n <= 0
// means the default (DefaultHandlerPollers or DefaultAcceptPollers),
// more than 65536 is an error.
func WithPollers(n int) Option { return func(c *config) { c.Pollers = n; c.set |= optPollers } }

// WithTrigger selects level-triggered, edge-triggered or one-shot.
func WithTrigger(t Trigger) Option { return func(c *config) { c.Trigger = t; c.set |= optTrigger } }

// WithWait selects how pollers wait for events.
func WithWait(w WaitStrategy) Option { return func(c *config) { c.Wait = w; c.set |= optWait } }

// WithSpin sets the number of empty polls of WaitSpin before blocking;
// n <= 0 means the default (DefaultSpin), more than 65536 is an error.
func WithSpin(n int) Option { return func(c *config) { c.Spin = n; c.set |= optSpin } }

// WithDispatch selects where handlers run.
func WithDispatch(d Dispatch) Option { return func(c *config) { c.Dispatch = d; c.set |= optDispatch } }

// WithBalance selects how connections are assigned to pollers.
func WithBalance(b Balance) Option { return func(c *config) { c.Balance = b; c.set |= optBalance } }

// WithReusePort makes Server.Listen (and Listen) open one SO_REUSEPORT
// socket per poller, so that the kernel spreads new connections across
// the pollers. The address is then not the listener's alone: another
// SO_REUSEPORT socket of the same user on it (another Listen with this
// option, another program) is bound where Go's net fails with
// EADDRINUSE, and takes a share of the connections.
func WithReusePort(on bool) Option {
	return func(c *config) { c.ReusePort = on; c.set |= optReusePort }
}

// WithBackend selects the backend (see Backend). BackendEpoll on an OS
// without epoll makes NewServer, Listen and Dial fail with an error
// wrapping ErrNoNativeBackend; BackendStd together with a poller switch
// (WithPollers, WithTrigger, WithWait, WithSpin, WithDispatch,
// WithBalance, WithReusePort) given in the same place is an error
// wrapping ErrBadConfig.
func WithBackend(b Backend) Option { return func(c *config) { c.Backend = b; c.set |= optBackend } }

// WithReadTimeout bounds each blocking read wait (0: none).
func WithReadTimeout(d time.Duration) Option { return func(c *config) { c.ReadTimeout = d } }

// WithWriteTimeout bounds each blocking write wait (0: none).
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.WriteTimeout = d } }

// WithIdleTimeout closes connections without I/O for d (0: never). A
// handler that runs counts as activity unless it is waiting for the
// peer (a blocked read, or a Flush or Write waiting for the peer to take
// output). The close drops output still queued: the peer took none of
// it for d.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.IdleTimeout = d } }

// WithMaxInput bounds unread input per connection in bytes (0: the
// default; negative or over 1 GiB is an error).
func WithMaxInput(n int) Option { return func(c *config) { c.MaxInput = n } }

// WithMaxOutput bounds unsent output per connection in bytes (0: the
// default; negative or over 1 GiB is an error).
func WithMaxOutput(n int) Option { return func(c *config) { c.MaxOutput = n } }

// WithBufferBudget bounds the bytes buffered by all connections of a
// Server together (0: DefaultBufferBudget). A budget below one
// connection's MaxInput+MaxOutput, or negative, is an error.
func WithBufferBudget(n int64) Option { return func(c *config) { c.BufferBudget = n } }

// WithMaxConns bounds the connections a Server holds open at once (see
// Config.MaxConns); 0 means no limit, a negative n is a configuration
// error.
func WithMaxConns(n int) Option { return func(c *config) { c.MaxConns = n } }

// WithPool runs handlers on p instead of gopool.Default(). A run that
// finds p full waits in its poller's backlog, which applies p's Policy
// there; a connection whose run p refuses (FailFast) closes with
// ErrPoolOverload, and one whose run finds p closed, or p not made by
// gopool.New, closes with ErrPoolClosed, its handler not run. So close p
// only after the Servers and Dialers that use it. A p that is closed
// already, or not made by gopool.New, is a configuration error (see
// gopool.Pool.Err); so is a closed gopool.Default() when no pool is
// given.
func WithPool(p *gopool.Pool) Option { return func(c *config) { c.Pool = p } }

// WithOnConnect sets a hook run once per new connection, before any
// handler; it may attach state with SetContext. In accept mode (nil
// handler) it is how the owner learns of new connections.
func WithOnConnect(f func(c *Conn)) Option { return func(c *config) { c.OnConnect = f } }

// WithOnDisconnect sets a hook run once per connection after it closed
// and its last handler returned, after OnConnect where that is set.
func WithOnDisconnect(f func(c *Conn, err error)) Option {
	return func(c *config) { c.OnDisconnect = f }
}

// WithConfig replaces the whole configuration (later options still
// apply on top), UPOLL's values included: under it, UPOLL changes
// nothing. It is meant for configuration loaded from elsewhere. It sets
// fields, not switches: with Backend BackendStd, cfg's poller switches
// (Pollers, Trigger, Wait, Spin, Dispatch, Balance, ReusePort) are not
// applicable and ignored, where the With options for them, given after
// it, are an error as after WithBackend(BackendStd).
func WithConfig(cfg Config) Option {
	return func(c *config) {
		set := optConfig
		if cfg.set&(optTrigger|optCfgTrigger) != 0 {
			set |= optCfgTrigger
		}
		if cfg.Backend != BackendDefault && cfg.Backend != nativeBackend {
			// A backend named in code, as by WithBackend: a poller
			// switch given after it with BackendStd is a conflict
			// (resolve), not dropped without a word. The system's own
			// backend is not: DefaultConfig names it, and where it is
			// BackendStd (no epoll), WithConfig(DefaultConfig()) and a
			// poller switch must mean what the switch alone means.
			set |= optBackend
		}
		*c = cfg
		c.set = set
	}
}

// buildConfig layers the UPOLL environment override and then opts on
// a zero Config, validates the result and resolves its defaults for a
// Server with a handler (handler) or without one.
func buildConfig(opts []Option, handler bool) (config, error) {
	var cfg config
	env, err := envOptions()
	if err != nil {
		return cfg, err
	}
	for _, o := range env {
		o(&cfg)
	}
	envSet := cfg.set
	cfg.set = 0
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.set&optConfig != 0 {
		envSet = 0 // WithConfig replaced UPOLL's values, switches included
	}
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	if err := cfg.resolve(handler, envSet); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// DefaultHandlerPollers is how many pollers a Server with a handler
// starts unless UPOLL or an option says otherwise: half the Ps
// (GOMAXPROCS), at least one. Its pollers run the handlers, so a busy
// poller keeps its P and its thread busy; the other half stay with the
// rest of the program and its other threads, and no poller waits for a
// CPU behind another poller's thread. docs/tuning.md has the
// measurements.
func DefaultHandlerPollers() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// DefaultAcceptPollers is how many pollers a Server without a handler
// (the nethttp adapter, dialed connections) starts unless UPOLL or an
// option says otherwise: a quarter of GOMAXPROCS, at least one. Its
// pollers only read and wake goroutines blocked in Read; more of them
// split the connections into queues served independently, and the
// slowest sets the tail latency (docs/tuning.md has the measurements).
func DefaultAcceptPollers() int { return max(1, runtime.GOMAXPROCS(0)/4) }

// ErrBadConfig is wrapped by the error of a configuration that names an
// unknown trigger, wait strategy, dispatch or balance, has a negative
// timeout or size, more than 65536 pollers or spins, a buffer budget
// below one connection's bounds, or a pool that takes no tasks (closed,
// or not made by gopool.New).
var ErrBadConfig = errors.New("netpoll: bad configuration")

func (c *config) validate() error {
	switch {
	case c.Backend < BackendDefault || c.Backend > BackendUring:
		return fmt.Errorf("%w: unknown backend %d", ErrBadConfig, c.Backend)
	case c.Trigger < LevelTriggered || c.Trigger > OneShot:
		return fmt.Errorf("%w: unknown trigger %d", ErrBadConfig, c.Trigger)
	case c.Wait < WaitDefault || c.Wait > WaitAdaptive:
		return fmt.Errorf("%w: unknown wait strategy %d", ErrBadConfig, c.Wait)
	case c.Dispatch < DispatchHandoff || c.Dispatch > DispatchEach:
		return fmt.Errorf("%w: unknown dispatch %d", ErrBadConfig, c.Dispatch)
	case c.Balance < RoundRobin || c.Balance > LeastConnections:
		return fmt.Errorf("%w: unknown balance %d", ErrBadConfig, c.Balance)
	case c.ReadTimeout < 0 || c.WriteTimeout < 0 || c.IdleTimeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrBadConfig)
	case c.MaxInput < 0:
		return fmt.Errorf("%w: negative MaxInput %d", ErrBadConfig, c.MaxInput)
	case c.MaxOutput < 0:
		return fmt.Errorf("%w: negative MaxOutput %d", ErrBadConfig, c.MaxOutput)
	case c.MaxInput > maxBound || c.MaxOutput > maxBound:
		return fmt.Errorf("%w: MaxInput %d or MaxOutput %d over 1 GiB", ErrBadConfig, c.MaxInput, c.MaxOutput)
	case c.BufferBudget < 0:
		return fmt.Errorf("%w: negative BufferBudget %d", ErrBadConfig, c.BufferBudget)
	case c.MaxConns < 0:
		return fmt.Errorf("%w: negative MaxConns %d", ErrBadConfig, c.MaxConns)
	case c.Pollers > maxEnvCount:
		return fmt.Errorf("%w: Pollers %d over %d", ErrBadConfig, c.Pollers, maxEnvCount)
	case c.Spin > maxEnvCount:
		return fmt.Errorf("%w: Spin %d over %d", ErrBadConfig, c.Spin, maxEnvCount)
	}
	return nil
}

// resolve gives every zero field of c its default for a Server with a
// handler (handler) or without one, and checks what depends on the
// result. BackendEpoll needs Linux. BackendStd given in one layer (the
// options in code, or UPOLL, whose switches envSet records) must not
// come with a poller switch given in the same layer; switches from the
// other layer do not apply and are reset to their defaults, so that
// Config shows what runs. An explicit BufferBudget must let one
// connection reach its MaxInput+MaxOutput; the default one is raised to
// them.
func (c *config) resolve(handler bool, envSet uint16) error {
	d := defaults(handler)
	if c.Backend == BackendDefault {
		c.Backend = d.Backend
	}
	switch c.Backend {
	case BackendEpoll:
		if !hasNativeBackend {
			return fmt.Errorf("%w: backend epoll", ErrNoNativeBackend)
		}
	case BackendStd:
		layer, where := c.set, "options"
		if c.set&optBackend == 0 {
			layer, where = envSet, EnvVar
		}
		if bad := layer & optStdConflict; bad != 0 {
			return fmt.Errorf("%w: backend std with %s in the same %s: that switch is for the epoll backend",
				ErrBadConfig, setNames(bad), where)
		}
		c.Trigger, c.Wait, c.Spin, c.Dispatch, c.Balance, c.ReusePort = 0, 0, 0, 0, 0, false
		c.Pollers = 1 // the accept loop; each connection has its own goroutine
	case BackendUring:
		if err := c.resolveUring(envSet); err != nil {
			return err
		}
	}
	explicitBudget := c.BufferBudget != 0
	c.fill(&d)
	if bound := int64(c.MaxInput) + int64(c.MaxOutput); explicitBudget && c.BufferBudget < bound {
		return fmt.Errorf("%w: BufferBudget %d is below one connection's MaxInput+MaxOutput (%d)",
			ErrBadConfig, c.BufferBudget, bound)
	}
	if c.Pool == nil {
		c.Pool = gopool.Default()
	}
	if err := c.Pool.Err(); err != nil {
		// A pool that can run nothing would close every connection with
		// ErrPoolClosed, its handler never run: say so now.
		return fmt.Errorf("%w: pool: %w", ErrBadConfig, err)
	}
	return nil
}

// fill sets each zero field of c (and a negative Pollers or Spin) to
// its value in d, the defaults, raising a default BufferBudget to one
// connection's MaxInput+MaxOutput. Pool is left as it is.
func (c *config) fill(d *Config) {
	if c.Backend == BackendDefault {
		c.Backend = d.Backend
	}
	if c.Pollers <= 0 {
		c.Pollers = d.Pollers
	}
	if c.Trigger == 0 {
		c.Trigger = d.Trigger
	}
	if c.Wait == WaitDefault {
		c.Wait = d.Wait
	}
	if c.Spin <= 0 {
		c.Spin = d.Spin
	}
	if c.Dispatch == 0 {
		c.Dispatch = d.Dispatch
	}
	if c.Balance == 0 {
		c.Balance = d.Balance
	}
	if c.MaxInput == 0 {
		c.MaxInput = d.MaxInput
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = d.MaxOutput
	}
	if c.BufferBudget == 0 {
		c.BufferBudget = max(d.BufferBudget, int64(c.MaxInput)+int64(c.MaxOutput))
	}
}

// setNames names the switches of a set mask, as UPOLL keys.
func setNames(m uint16) string {
	var names []string
	for i, n := range envKeys[:8] {
		if m&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// String returns the effective configuration in the UPOLL syntax, its
// backend first: a zero field reads as its default for a Server with a
// handler, as in DefaultConfig (the Config of a Server is resolved
// already), and the poller switches read "n/a" under BackendStd. Hooks
// and the pool are left out.
func (c Config) String() string {
	d := defaults(true)
	c.fill(&d)
	na := c.Backend == BackendStd
	sw := func(v any) string {
		if na {
			return "n/a"
		}
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("backend=%s,pollers=%s,trigger=%s,wait=%s,spin=%s,dispatch=%s,balance=%s,reuseport=%s,"+
		"maxinput=%d,maxoutput=%d,budget=%d,readtimeout=%s,writetimeout=%s,idletimeout=%s,maxconns=%d",
		c.Backend, sw(c.Pollers), sw(c.Trigger), sw(c.Wait), sw(c.Spin), sw(c.Dispatch), sw(c.Balance), sw(c.ReusePort),
		c.MaxInput, c.MaxOutput, c.BufferBudget, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout, c.MaxConns)
}

// maxBound is the largest MaxInput and MaxOutput: a connection's
// buffered lengths are counted in 32 bits (see Conn.account).
const maxBound = 1 << 30
