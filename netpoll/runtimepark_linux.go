package netpoll

import (
	"errors"
	"os"
	"syscall"
	"time"
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
