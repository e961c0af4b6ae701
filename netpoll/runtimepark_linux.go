package netpoll

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runtimePark is how a Linux backend waits parked in the Go runtime's
// netpoller (WaitRuntime): a nonblocking descriptor that becomes
// readable when the backend has events, wrapped in an os.File so the
// runtime watches it. The runtime's registration is edge-triggered, so
// each wait drains first and parks only when the drain found nothing.
//
// The callback of rc.Read and what it found live here, made once and
// owned by the waiting goroutine: a closure per wait would cost three
// heap allocations per park.
type runtimePark struct {
	file     *os.File
	rc       syscall.RawConn
	deadline time.Time // last deadline set on file

	drain  func([]event) (int, error) // a poll that never blocks
	ready  func(uintptr) bool         // callback, bound once
	events []event
	n      int
	err    error
	parked bool

	// WaitAdaptive registers a gate instead of the backend's descriptor
	// (gated): an epoll instance that holds it one-shot, armed
	// (gateArmed) only from a park in the runtime until the next blocking
	// wait. A descriptor registered with the runtime's netpoller passes
	// its readiness on whenever the backend has events: while the loop
	// waits in the backend itself, each would also wake a thread asleep
	// in the runtime's epoll_wait, for nothing. gate is -1 without one.
	gate      int
	gated     int
	gateArmed bool // owned by the waiting goroutine
}

// newGate returns an epoll instance holding fd one-shot and disarmed,
// for initPark.
func newGate(fd int) (int, error) {
	gate, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("epoll_create1", err)
	}
	// Disarmed: one-shot with no event asked for.
	ev := unix.EpollEvent{Events: unix.EPOLLONESHOT}
	if err := unix.EpollCtl(gate, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(gate)
		return -1, os.NewSyscallError("epoll_ctl", err)
	}
	return gate, nil
}

// setGate arms (the gated descriptor's readiness reaches the runtime,
// once) or disarms the gate. The waiting goroutine calls it.
func (r *runtimePark) setGate(arm bool) error {
	ev := unix.EpollEvent{Events: unix.EPOLLONESHOT}
	if arm {
		ev.Events |= unix.EPOLLIN
	}
	for {
		err := unix.EpollCtl(r.gate, unix.EPOLL_CTL_MOD, r.gated, &ev)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
		r.gateArmed = arm
		return nil
	}
}

// shutGate disarms an armed gate before the loop waits in the backend
// itself.
func (r *runtimePark) shutGate() error {
	if r.gateArmed {
		return r.setGate(false)
	}
	return nil
}

// parkGated is park through the gate, if there is one: armed before the
// callback's drain (an event between the two passes the gate), and
// disarmed once woken, since the loop runs now and the runtime must not
// hear of every event it handles meanwhile; the next park arms it again.
func (r *runtimePark) parkGated(events []event, deadline time.Time) (n int, parked bool, err error) {
	if r.gate >= 0 && !r.gateArmed {
		if err := r.setGate(true); err != nil {
			return 0, false, err
		}
	}
	n, parked, err = r.park(events, deadline)
	if parked && err == nil && r.gate >= 0 {
		err = r.setGate(false)
	}
	return n, parked, err
}

// initPark wraps fd (nonblocking) for the runtime; drain is the
// backend's zero-timeout poll. On failure file is closed.
func (r *runtimePark) initPark(fd int, name string, drain func([]event) (int, error)) error {
	r.file = os.NewFile(uintptr(fd), name)
	rc, err := r.file.SyscallConn()
	if err != nil {
		r.file.Close()
		r.file = nil
		return err
	}
	r.rc, r.drain, r.ready = rc, drain, r.callback
	return nil
}

// park waits until drain finds events or the deadline passes (zero:
// none); parked reports that it did park.
func (r *runtimePark) park(events []event, deadline time.Time) (n int, parked bool, err error) {
	if !deadline.Equal(r.deadline) {
		if err := r.file.SetReadDeadline(deadline); err != nil {
			return 0, false, err
		}
		r.deadline = deadline
	}
	r.events, r.n, r.err, r.parked = events, 0, nil, false
	rerr := r.rc.Read(r.ready)
	n, werr, parked := r.n, r.err, r.parked
	r.events, r.err = nil, nil
	if werr != nil {
		return 0, parked, werr
	}
	if rerr != nil {
		if errors.Is(rerr, os.ErrDeadlineExceeded) {
			return 0, parked, nil
		}
		return 0, parked, rerr
	}
	return n, parked, nil
}

// callback is rc.Read's: it drains and asks to park (false) only when
// that found nothing.
func (r *runtimePark) callback(uintptr) bool {
	r.n, r.err = r.drain(r.events)
	if r.err != nil || r.n > 0 {
		return true
	}
	r.parked = true
	return false
}
