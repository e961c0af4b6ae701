package netpoll

import "errors"

// The poller speaks to the kernel's readiness API through a pollset,
// in neutral terms: interest in reading and writing (edge-triggered or
// one-shot when asked), and events carrying a slot, its generation and
// what is ready. Each OS with a native backend provides, in a file of
// its own (epoll_linux.go; a kqueue backend would be kqueue_bsd.go):
//
//	newPollset(runtimeWait, gated bool, calls *atomic.Uint64) (*pollset, error)
//	    opens the instance and its wake-up channel; calls counts every
//	    wait system call, empty polls included. runtimeWait asks for
//	    waitRuntime; gated asks that readiness reach the runtime only
//	    from a waitRuntime until the next blocking wait (WaitAdaptive
//	    mixes the two waits). A backend may ignore gated.
//	(*pollset) add(fd int, in uint32, slot, gen int32) error
//	(*pollset) mod(fd int, in uint32, slot, gen int32) error
//	(*pollset) del(fd int) error
//	    change interest in fd; in is a set of the ev* bits below
//	    (evIn, evOut, evRDHup, evPri, evET, evOne). Safe from any
//	    goroutine; after close they fail with errPollerClosed and never
//	    touch a descriptor number that may have been reused.
//	(*pollset) wait(events []event, msec int) (int, error)
//	    fills events; msec < 0 blocks, 0 polls.
//	(*pollset) waitRuntime(events []event, deadline time.Time) (n int, parked bool, err error)
//	    waits parked in the Go runtime's netpoller, holding no thread
//	    (zero deadline: none); parked reports that it did park.
//	(*pollset) wake()
//	    makes a blocked wait return, from any goroutine; one wake-up
//	    may stand for many calls.
//	(*pollset) drainWake()
//	    resets the wake-up channel after its event was seen.
//	(*pollset) close() error
//
// What a backend guarantees:
//
//   - EINTR never reaches the poller: interrupted calls are retried
//     (Go delivers SIGURG for preemption).
//   - Identity: an event carries the slot and generation given to add
//     or mod, never a descriptor number, so an event that is stale (its
//     connection closed and the slot reused) is recognised by the
//     registry and dropped. Wake-ups carry slot tagWake; listener i
//     carries tagListener-i, added with generation listenShared when
//     another listener, not the poller's, shares its socket: nothing is
//     accepted on it but by the poller's accept (no accept request in
//     the kernel), which stops when upoll's Listener closes.
//   - Edge and level: with evET an event is reported once per change of
//     readiness and the poller reads until the socket is drained; without
//     it an event is reported on every wait while the condition holds;
//     with evOne the interest is disarmed after one event until mod.
//   - Hang-ups and errors are reported whatever the interest (evHup,
//     evErr), and evRDHup when the peer shut its write side.
//   - A wake() after close is harmless.
//
// The event bits are numbered as Linux numbers epoll's, so that the
// epoll backend passes them through; other backends translate.
const (
	evIn    = 0x1     // readable (interest and event)
	evPri   = 0x2     // urgent data
	evOut   = 0x4     // writable (interest and event)
	evErr   = 0x8     // error pending (event only)
	evHup   = 0x10    // both directions hung up (event only)
	evRDHup = 0x2000  // the peer shut its write side
	evOne   = 1 << 30 // interest: one-shot
	evET    = 1 << 31 // interest: edge-triggered
)

// event is one readiness report: the slot and generation the fd was
// registered with, and what is ready (ev* bits).
type event struct {
	slot, gen int32
	ready     uint32
}

// Tags for event slots that are not connection slots. Connection
// events carry the registry slot index (>= 0) and its generation.
const (
	tagWake     = -1 // the pollset's wake-up channel
	tagListener = -2 // listener i is tagged tagListener - i
)

// listenShared is the generation a listener is added with when its
// socket is shared with the caller's own listener (WrapListener).
const listenShared = 1

// ErrNoNativeBackend is wrapped by the error of NewServer, Listen and
// Dial when the native backend is asked for on an OS that has none;
// BackendStd serves everywhere.
var ErrNoNativeBackend = errors.New("netpoll: no native poller backend on this OS")
