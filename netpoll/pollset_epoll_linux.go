package netpoll

import (
	"encoding/binary"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The neutral event bits (backend.go) are epoll's own numbers: interest
// and events pass through unchanged.
var _ = [1]struct{}{}[evIn^unix.EPOLLIN|evOut^unix.EPOLLOUT|evRDHup^unix.EPOLLRDHUP|
	evHup^unix.EPOLLHUP|evErr^unix.EPOLLERR|evPri^unix.EPOLLPRI|evOne^unix.EPOLLONESHOT|
	(evET^unix.EPOLLET)&0xffffffff]

// hasNativeBackend: BackendDefault means BackendEpoll here.
const hasNativeBackend = true

// pollset is the Linux backend (see backend.go): one epoll instance and
// the eventfd that wakes it. Slot and generation travel in the event's
// data (Fd and Pad); never a Go pointer, never the socket's fd number.
type pollset struct {
	// ur, when set, is an io_uring pollset (BackendUring) that every
	// method below hands over to; the epoll fields are then unused.
	ur *uringSet

	fd  int // epoll fd
	efd int // eventfd (EFD_NONBLOCK): a write wakes the waiter

	// WaitRuntime: the epoll fd, made nonblocking and wrapped in an
	// os.File, is itself registered (edge-triggered) with the Go
	// runtime's netpoller; the loop parks in rc.Read, which holds no OS
	// thread while idle.
	//
	// WaitAdaptive registers a gate instead (runtimePark.gate): a
	// registered epoll fd passes every event of its sockets on to the
	// runtime's epoll.
	runtimePark

	// calls counts epoll_wait syscalls, the empty polls of the wait
	// strategies included (the poller's Waits counter).
	calls *atomic.Uint64

	// raw receives what epoll_wait returns; wait translates it into
	// the poller's events. Owned by the waiting goroutine.
	raw []unix.EpollEvent

	// mu makes closing the epoll fd exclusive with epoll_ctl from other
	// goroutines, so an fd number reused after close is never touched.
	mu     sync.RWMutex
	closed bool
}

// newPollset makes an epoll instance with its wake-up eventfd; calls
// counts its epoll_wait syscalls. runtimeWait makes waitRuntime usable;
// gated puts a gate between the epoll fd and the runtime (see pollset).
func newPollset(runtimeWait, gated bool, calls *atomic.Uint64) (*pollset, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ep := &pollset{fd: fd, efd: efd, calls: calls, raw: make([]unix.EpollEvent, maxEvents)}
	ep.gate = -1
	ev := unix.EpollEvent{Events: evIn, Fd: tagWake}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(efd)
		unix.Close(fd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	if runtimeWait {
		if err := ep.registerRuntime(gated); err != nil {
			unix.Close(efd)
			return nil, err
		}
	}
	return ep, nil
}

// registerRuntime registers the epoll fd, or a gate holding it, with the
// Go runtime's netpoller. On failure the epoll fd (and the gate) are
// closed.
func (ep *pollset) registerRuntime(gated bool) error {
	fd, name := ep.fd, "epoll"
	if gated {
		gate, err := newGate(ep.fd)
		if err != nil {
			unix.Close(ep.fd)
			return err
		}
		fd, name, ep.gate, ep.gated = gate, "epoll gate", gate, ep.fd
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		if gated {
			unix.Close(fd)
		}
		unix.Close(ep.fd)
		return os.NewSyscallError("fcntl", err)
	}
	// The runtime registers the fd edge-triggered: the loop must
	// drain with epoll_wait(0) before it parks (see waitRuntime).
	if err := ep.initPark(fd, name, ep.drain); err != nil {
		if gated {
			unix.Close(ep.fd)
		}
		return err
	}
	return nil
}

// ctl runs epoll_ctl for a registered socket. data carries a slot
// index and generation.
func (ep *pollset) ctl(op, fd int, events uint32, slot, gen int32) error {
	if ep.ur != nil {
		return ep.ur.ctl(op, fd, events, slot, gen)
	}
	ev := unix.EpollEvent{Events: events, Fd: slot, Pad: gen}
	ep.mu.RLock()
	defer ep.mu.RUnlock()
	if ep.closed {
		return errPollerClosed
	}
	for {
		err := unix.EpollCtl(ep.fd, op, fd, &ev)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("epoll_ctl", err)
		}
		return nil
	}
}

func (ep *pollset) add(fd int, events uint32, slot, gen int32) error {
	return ep.ctl(unix.EPOLL_CTL_ADD, fd, events, slot, gen)
}

func (ep *pollset) mod(fd int, events uint32, slot, gen int32) error {
	return ep.ctl(unix.EPOLL_CTL_MOD, fd, events, slot, gen)
}

func (ep *pollset) del(fd int) error {
	return ep.ctl(unix.EPOLL_CTL_DEL, fd, 0, 0, 0)
}

// wait returns ready events; msec < 0 blocks, 0 polls. EINTR (SIGURG
// preemption, any signal) is retried: epoll_wait is never restarted by
// the kernel.
//
// A poll (msec 0) goes through RawSyscall, as readv and writev do (see
// sys_linux.go): it never blocks, so the runtime's syscall bookkeeping
// would buy nothing.
func (ep *pollset) wait(events []event, msec int) (int, error) {
	if ep.ur != nil {
		return ep.ur.wait(events, msec)
	}
	raw := ep.raw[:min(len(events), len(ep.raw))]
	var n int
	var err error
	if msec == 0 {
		n, err = ep.poll(raw)
	} else {
		if err := ep.shutGate(); err != nil {
			return 0, err
		}
		for {
			n, err = unix.EpollWait(ep.fd, raw, msec)
			ep.calls.Add(1)
			if err != unix.EINTR {
				break
			}
		}
		if err != nil {
			return 0, os.NewSyscallError("epoll_wait", err)
		}
	}
	for i := range n {
		r := &raw[i]
		events[i] = event{slot: r.Fd, gen: r.Pad, ready: r.Events}
	}
	return n, err
}

// poll is epoll_wait with a zero timeout.
func (ep *pollset) poll(raw []unix.EpollEvent) (int, error) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep.fd),
			uintptr(unsafe.Pointer(&raw[0])), uintptr(len(raw)), 0, 0, 0)
		ep.calls.Add(1)
		switch e {
		case 0:
			return int(r), nil
		case unix.EINTR:
			continue
		}
		return 0, os.NewSyscallError("epoll_wait", e)
	}
}

// waitRuntime parks the goroutine in the Go runtime until the epoll fd
// is readable or the deadline passes (zero: none). Because the runtime's
// registration is edge-triggered, the callback drains with
// epoll_wait(0) and only returns false (park) after a poll found nothing.
// That empty poll is one syscall per pass at low load, and it must stay:
// events still queued in this epoll (level-triggered ones are re-queued
// after each report, and an event that arrives while epoll_wait copies
// events out is re-queued too) raise no new edge in the runtime's epoll,
// so a poller that parked without draining could wait for good.
// docs/tuning.md records the narrower skips that were tried and stalled.
func (ep *pollset) waitRuntime(events []event, deadline time.Time) (n int, parked bool, err error) {
	if ep.ur != nil {
		return ep.ur.waitRuntime(events, deadline)
	}
	return ep.parkGated(events, deadline)
}

// drain is runtimePark's poll: epoll_wait(0).
func (ep *pollset) drain(events []event) (int, error) { return ep.wait(events, 0) }

// wake makes a blocked wait return. It is safe from any goroutine.
func (ep *pollset) wake() {
	if ep.ur != nil {
		ep.ur.wake()
		return
	}
	ep.mu.RLock()
	defer ep.mu.RUnlock()
	if ep.closed {
		return // the eventfd number may already belong to someone else
	}
	signalEventfd(ep.efd)
}

// signalEventfd adds one to the counter of the eventfd fd, making it
// readable. EAGAIN means the counter is already non-zero: a wake-up is
// pending anyway.
func signalEventfd(fd int) {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	for {
		if _, err := unix.Write(fd, b[:]); err != unix.EINTR {
			return
		}
	}
}

// drainWake resets the eventfd counter after a wake-up was seen.
func (ep *pollset) drainWake() {
	if ep.ur != nil {
		ep.ur.drainWake()
		return
	}
	var b [8]byte
	for {
		if _, err := unix.Read(ep.efd, b[:]); err != unix.EINTR {
			return
		}
	}
}

// close releases both descriptors. Later ctl calls fail with
// errPollerClosed instead of touching a reused fd number.
func (ep *pollset) close() error {
	if ep.ur != nil {
		return ep.ur.close()
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.closed {
		return nil
	}
	ep.closed = true
	var err error
	if ep.file != nil {
		err = ep.file.Close()
	}
	if ep.file == nil || ep.gate >= 0 {
		if e := sysClose(ep.fd); err == nil {
			err = e
		}
	}
	if e := sysClose(ep.efd); err == nil {
		err = e
	}
	return err
}
