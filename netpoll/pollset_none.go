//go:build !linux

package netpoll

import (
	"sync/atomic"
	"time"
)

// pollset on an OS without a native backend: newPollset fails, so no
// poller (and no descriptor-based connection) ever exists here, and the
// methods are never reached. BackendStd serves these systems.
// hasNativeBackend: BackendDefault means BackendStd here.
const hasNativeBackend = false

type pollset struct{}

func newPollset(runtimeWait, gated bool, calls *atomic.Uint64) (*pollset, error) {
	return nil, ErrNoNativeBackend
}

func (*pollset) add(fd int, in uint32, slot, gen int32) error { return ErrNoNativeBackend }
func (*pollset) mod(fd int, in uint32, slot, gen int32) error { return ErrNoNativeBackend }
func (*pollset) del(fd int) error                             { return ErrNoNativeBackend }
func (*pollset) wait(events []event, msec int) (int, error)   { return 0, ErrNoNativeBackend }
func (*pollset) waitRuntime(events []event, deadline time.Time) (int, bool, error) {
	return 0, false, ErrNoNativeBackend
}
func (*pollset) wake()        {}
func (*pollset) drainWake()   {}
func (*pollset) close() error { return nil }
