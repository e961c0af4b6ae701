package uring

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnavailable is wrapped by every error that says io_uring cannot be
// used, with the cause.
var ErrUnavailable = errors.New("io_uring unavailable")

// ErrClosed is returned by calls on a closed Ring.
var ErrClosed = errors.New("uring: ring closed")

// Ring is one io_uring instance with its submission and completion
// queues mapped. Its methods are for one goroutine at a time; Counters
// may be read from any.
type Ring struct {
	fd       int
	flags    uint32 // setup flags that took
	features uint32

	sqMem, cqMem, sqeMem []byte
	cqSeparate           bool // cqMem is a mapping of its own

	sqHead, sqTail, sqFlags *uint32
	sqMask, sqEntries       uint32
	sqes                    []SQE
	sqeTail                 uint32 // SQEs handed out; published to *sqTail by flush
	published               uint32 // SQEs published, under SetupSQPoll (for Submitted)

	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []CQE

	// The EXT_ARG of a timed wait, in the Ring so that the kernel reads
	// heap memory whose address cannot change.
	arg getEventsArg
	ts  kernelTimespec

	// batch and batchWaitUS (µs): see SetBatch; 0 when not set.
	batch, batchWaitUS uint32

	ctr Counters
}

// Counters count a ring's work; safe to read from any goroutine.
type Counters struct {
	Submitted atomic.Uint64 // SQEs the kernel consumed (under SetupSQPoll: published to its thread)
	Completed atomic.Uint64 // CQEs reaped
	Enters    atomic.Uint64 // io_uring_enter calls
	Wakeups   atomic.Uint64 // of them, wake-ups of an idle SQPOLL thread
}

// batchIdleTimeout is the timeout given to a batched wait whose caller
// gave none (see sysEnter).
const batchIdleTimeout = time.Minute

// SetBatch makes each blocking wait for one completion (Enter with min
// 1 and a timeout other than 0) wait for n completions during at most
// wait, then return as soon as one is there (min_wait_usec, Linux 6.12):
// fewer waits under load, at the cost of up to wait of latency when
// fewer than n come. n <= 1 turns it off. It fails (ErrUnavailable)
// where the kernel lacks the feature, and for a wait under 1 µs or over
// 1 s.
func (r *Ring) SetBatch(n uint32, wait time.Duration) error {
	if n <= 1 {
		r.batch, r.batchWaitUS = 0, 0
		return nil
	}
	if r.features&FeatMinTimeout == 0 {
		return fmt.Errorf("%w: batched waits need IORING_FEAT_MIN_TIMEOUT (min_wait_usec, Linux 6.12)", ErrUnavailable)
	}
	if wait < time.Microsecond || wait > time.Second {
		return fmt.Errorf("uring: batch wait %v: want 1µs to 1s", wait)
	}
	r.batch, r.batchWaitUS = n, uint32(wait/time.Microsecond)
	return nil
}

// Counters returns the ring's counters.
func (r *Ring) Counters() *Counters { return &r.ctr }

// NewSQPoll is New with a kernel thread that consumes the submission
// queue (IORING_SETUP_SQPOLL): a submission is a store to the shared
// ring, and io_uring_enter is needed only to wait for completions or to
// wake the thread after it slept, idle for idle (rounded to
// milliseconds, at least one). The thread belongs to the calling
// process (a task named iou-sqp-<pid> in /proc/<pid>/task) and its CPU
// counts as the process's. SetupDeferTaskrun and SetupSingleIssuer are
// dropped from want: the thread is the issuer.
func NewSQPoll(entries, cqEntries, want uint32, idle time.Duration) (*Ring, error) {
	ms := max(uint32(idle/time.Millisecond), 1)
	return setupRing(entries, cqEntries, want&^(SetupDeferTaskrun|SetupSingleIssuer)|SetupSQPoll, ms)
}

// New sets up a ring of at least entries SQEs (a power of two is used)
// and a completion queue of cqEntries (0: twice entries). want are the
// optional setup flags asked for (SetupSingleIssuer, SetupDeferTaskrun,
// SetupRDisabled with SetupSingleIssuer, SetupCoopTaskrun,
// SetupSubmitAll): those the kernel refuses are dropped, DeferTaskrun
// first, and Flags reports what took. A ring set up with SetupRDisabled
// takes no submission until Enable. An error
// wraps ErrUnavailable when io_uring cannot be used at all.
func New(entries, cqEntries uint32, want uint32) (*Ring, error) {
	return setupRing(entries, cqEntries, want&^SetupSQPoll, 0)
}

func setupRing(entries, cqEntries, want, idleMS uint32) (*Ring, error) {
	var p params
	var fd int
	var err error
	sq := want & SetupSQPoll // asked for explicitly: never dropped
	// SetupRDisabled goes with SetupSingleIssuer: it only lets the issuer
	// be named later (Enable) instead of being the caller.
	tries := []uint32{want, want &^ SetupDeferTaskrun, want &^ (SetupDeferTaskrun | SetupSingleIssuer | SetupRDisabled), sq}
	for _, f := range tries {
		p = params{flags: f | SetupClamp, sqThreadIdle: idleMS}
		if cqEntries > 0 {
			p.flags |= SetupCQSize
			p.cqEntries = cqEntries
		}
		fd, err = setup(entries, &p)
		if err != unix.EINVAL {
			break
		}
	}
	if err != nil {
		return nil, setupErr(err)
	}
	r := &Ring{fd: fd, flags: p.flags &^ (SetupClamp | SetupCQSize), features: p.features}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func setup(entries uint32, p *params) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// setupErr names why io_uring_setup failed.
func setupErr(err error) error {
	switch err {
	case unix.ENOSYS:
		return fmt.Errorf("%w: the kernel has no io_uring (io_uring_setup: ENOSYS)", ErrUnavailable)
	case unix.EPERM:
		cause := "denied by a seccomp profile or by sysctl kernel.io_uring_disabled"
		if v, rerr := os.ReadFile("/proc/sys/kernel/io_uring_disabled"); rerr == nil && len(v) > 0 {
			switch v[0] {
			case '1':
				cause = "sysctl kernel.io_uring_disabled=1 (only members of kernel.io_uring_group)"
			case '2':
				cause = "sysctl kernel.io_uring_disabled=2"
			default:
				cause = "denied, likely by a seccomp profile (kernel.io_uring_disabled=0)"
			}
		}
		return fmt.Errorf("%w: %s (io_uring_setup: EPERM)", ErrUnavailable, cause)
	}
	if transient(err) {
		// Out of descriptors or memory now: not a lack of io_uring.
		return os.NewSyscallError("io_uring_setup", err)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, os.NewSyscallError("io_uring_setup", err))
}

// mapRings maps the queues and the SQE array.
func (r *Ring) mapRings(p *params) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(CQE{})))
	single := p.features&FeatSingleMMap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	r.sqMem, err = mmap(r.fd, offSQRing, sqSize)
	if err != nil {
		return err
	}
	if single {
		r.cqMem = r.sqMem
	} else {
		if r.cqMem, err = mmap(r.fd, offCQRing, cqSize); err != nil {
			return err
		}
		r.cqSeparate = true
	}
	if r.sqeMem, err = mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(SQE{}))); err != nil {
		return err
	}
	word := func(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqFlags = word(r.sqMem, p.sqOff.head), word(r.sqMem, p.sqOff.tail), word(r.sqMem, p.sqOff.flags)
	r.sqMask, r.sqEntries = *word(r.sqMem, p.sqOff.ringMask), p.sqEntries
	r.cqHead, r.cqTail = word(r.cqMem, p.cqOff.head), word(r.cqMem, p.cqOff.tail)
	r.cqMask = *word(r.cqMem, p.cqOff.ringMask)
	r.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	// The SQ's index array maps ring position i to SQE i, once for all.
	array := unsafe.Slice(word(r.sqMem, p.sqOff.array), p.sqEntries)
	for i := range array {
		array[i] = uint32(i)
	}
	r.sqeTail = atomic.LoadUint32(r.sqTail)
	return nil
}

func mmap(fd int, off int64, size int) ([]byte, error) {
	b, err := unix.Mmap(fd, off, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	return b, nil
}

// Enable starts a ring set up with SetupRDisabled, which refuses
// submissions until then; under SetupSingleIssuer the calling thread
// becomes the one thread that may submit and register from now on (the
// caller keeps its goroutine on that thread: runtime.LockOSThread).
func (r *Ring) Enable() error {
	if r.fd < 0 {
		return ErrClosed
	}
	return register(r.fd, registerEnable, nil, 0)
}

// Fd returns the ring's descriptor (to poll it: readable when
// completions are waiting).
func (r *Ring) Fd() int { return r.fd }

// Flags returns the optional setup flags that the kernel accepted.
func (r *Ring) Flags() uint32 { return r.flags }

// Features returns the feature bits the kernel reported.
func (r *Ring) Features() uint32 { return r.features }

// Close unmaps the queues and closes the ring; the kernel cancels what
// is still in flight. Buffer rings must be closed first.
func (r *Ring) Close() error {
	if r.fd < 0 {
		return nil
	}
	maps := [][]byte{r.sqeMem, r.sqMem}
	if r.cqSeparate {
		maps = append(maps, r.cqMem)
	}
	for _, m := range maps {
		if m != nil {
			unix.Munmap(m)
		}
	}
	r.sqeMem, r.cqMem, r.sqMem = nil, nil, nil
	r.sqes, r.cqes = nil, nil
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// SQE returns the next free submission entry, zeroed, or nil when the
// queue is full (Submit first). It is sent by the next Submit or
// SubmitAndWait.
func (r *Ring) SQE() *SQE {
	if r.fd < 0 || r.sqeTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		return nil
	}
	s := &r.sqes[r.sqeTail&r.sqMask]
	*s = SQE{}
	r.sqeTail++
	return s
}

// Pending returns how many entries wait for the next submit.
func (r *Ring) Pending() uint32 { return r.sqeTail - atomic.LoadUint32(r.sqHead) }

// Unpublished calls f with each entry prepared since the last publish
// (Flush, Submit), in order. The kernel cannot see them yet, so f may
// rewrite them.
func (r *Ring) Unpublished(f func(*SQE)) {
	if r.fd < 0 {
		return
	}
	for i := atomic.LoadUint32(r.sqTail); i != r.sqeTail; i++ {
		f(&r.sqes[i&r.sqMask])
	}
}

// Unconsumed returns how many published entries the kernel has not
// consumed yet.
func (r *Ring) Unconsumed() uint32 {
	if r.fd < 0 {
		return 0
	}
	return atomic.LoadUint32(r.sqTail) - atomic.LoadUint32(r.sqHead)
}

// flush publishes the SQEs handed out (a release store of the tail)
// and returns how many the kernel has not consumed yet.
func (r *Ring) flush() uint32 {
	atomic.StoreUint32(r.sqTail, r.sqeTail)
	if r.flags&SetupSQPoll != 0 {
		r.ctr.Submitted.Add(uint64(r.sqeTail - r.published))
		r.published = r.sqeTail
	}
	return r.sqeTail - atomic.LoadUint32(r.sqHead)
}

// Submit sends the prepared entries without waiting for completions.
func (r *Ring) Submit() (int, error) { return r.enter(0, 0, -1) }

// SubmitAndWait sends the prepared entries and waits until at least
// min completions are ready or timeout passes (< 0: no limit; the
// timeout needs FeatExtArg). A timeout or a signal is not an error: the
// caller reaps what is there.
func (r *Ring) SubmitAndWait(min uint32, timeout time.Duration) (int, error) {
	return r.enter(min, enterGetEvents, timeout)
}

func (r *Ring) enter(min, flags uint32, timeout time.Duration) (int, error) {
	if r.fd < 0 {
		return 0, ErrClosed
	}
	n := r.flush()
	if n == 0 && flags&enterGetEvents == 0 {
		return 0, nil
	}
	return r.sysEnter(n, min, flags, timeout)
}

// Flush publishes the entries prepared so far and returns how many the
// kernel has not consumed. With Enter it lets a caller that serializes
// SQE preparation under its own lock enter the kernel without it.
func (r *Ring) Flush() uint32 {
	if r.fd < 0 {
		return 0
	}
	return r.flush()
}

// Enter submits up to toSubmit published entries and waits for min
// completions or timeout (< 0: no limit), without touching the queue's
// tail: other goroutines may prepare and Flush entries meanwhile (the
// kernel takes no more than are published). Only one goroutine may
// wait at a time, and Reap stays with it.
func (r *Ring) Enter(toSubmit, min uint32, timeout time.Duration) (int, error) {
	if r.fd < 0 {
		return 0, ErrClosed
	}
	return r.sysEnter(toSubmit, min, enterGetEvents, timeout)
}

func (r *Ring) sysEnter(n, min, flags uint32, timeout time.Duration) (int, error) {
	if r.flags&SetupSQPoll != 0 {
		// The kernel's thread submits; it needs a call only when it
		// went to sleep (NEED_WAKEUP, read after the tail's store:
		// Go's atomics are sequentially consistent) or when the queue
		// is full and room must be waited for.
		sf := atomic.LoadUint32(r.sqFlags)
		if sf&sqNeedWakeup != 0 {
			flags |= enterSQWakeup
			r.ctr.Wakeups.Add(1)
		}
		if n >= r.sqEntries {
			flags |= enterSQWait
		}
		if flags&(enterGetEvents|enterSQWakeup|enterSQWait) == 0 && sf&sqCQOverflow == 0 {
			return int(n), nil
		}
	}
	var argp, argsz uintptr
	if flags&enterGetEvents != 0 && timeout >= 0 && r.features&FeatExtArg != 0 {
		r.ts = timespecOf(timeout)
		r.arg = getEventsArg{sigmaskSz: getEventsArgSigmsz, ts: uint64(uintptr(unsafe.Pointer(&r.ts)))}
		argp, argsz = uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg)
		flags |= enterExtArg
	}
	if r.batch > 1 && flags&enterGetEvents != 0 && min == 1 && timeout != 0 {
		// A blocking wait for one completion waits instead for a batch,
		// at most batchWaitUS, then returns with whatever came (SetBatch).
		// Without a timeout of its own the kernel would end the wait at
		// the bound even with nothing come: it gets a long one, and a
		// caller with no limit waits again after it (ETIME is no error).
		if argp == 0 {
			r.ts = timespecOf(batchIdleTimeout)
			r.arg = getEventsArg{sigmaskSz: getEventsArgSigmsz, ts: uint64(uintptr(unsafe.Pointer(&r.ts)))}
			argp, argsz = uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg)
			flags |= enterExtArg
		}
		r.arg.minWait = r.batchWaitUS
		min = r.batch
	}
	if flags&enterGetEvents == 0 && atomic.LoadUint32(r.sqFlags)&sqCQOverflow != 0 {
		flags |= enterGetEvents // let the kernel move overflowed CQEs in
	}
	// A call that cannot block (no wait for completions) goes without
	// the scheduler's syscall bookkeeping, as the runtime's own
	// non-blocking calls do: a submission that issues many sends inline
	// can run for a few hundred microseconds, and sysmon would take the
	// P away from a thread in a syscall that long, waking another thread
	// to run it.
	raw := flags&enterGetEvents == 0 || min == 0 && timeout == 0
	for {
		var done uintptr
		var errno unix.Errno
		if raw {
			done, _, errno = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), uintptr(min), uintptr(flags), argp, argsz)
		} else {
			done, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(n), uintptr(min), uintptr(flags), argp, argsz)
		}
		r.ctr.Enters.Add(1)
		switch errno {
		case 0:
			if r.flags&SetupSQPoll == 0 {
				r.ctr.Submitted.Add(uint64(done))
			}
			return int(done), nil
		case unix.EINTR:
			if flags&enterGetEvents != 0 {
				return 0, nil // a signal ends a wait; the caller looks again
			}
			continue
		case unix.ETIME, unix.EAGAIN, unix.EBUSY:
			// A timeout; or the CQ is full (memory short): reaping
			// makes room.
			return 0, nil
		}
		return 0, os.NewSyscallError("io_uring_enter", errno)
	}
}

// Reap copies ready completions into dst and consumes them; it makes
// no system call.
func (r *Ring) Reap(dst []CQE) int {
	if r.fd < 0 {
		return 0
	}
	head := *r.cqHead // only this side writes the head
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for head != tail && n < len(dst) {
		dst[n] = r.cqes[head&r.cqMask]
		head++
		n++
	}
	if n > 0 {
		atomic.StoreUint32(r.cqHead, head)
		r.ctr.Completed.Add(uint64(n))
	}
	return n
}

// Peek calls f with each completion ready to be reaped, oldest first,
// without consuming any, until f returns true; it reports whether f
// did. The caller excludes Reap meanwhile; the kernel writes only past
// the tail.
func (r *Ring) Peek(f func(CQE) bool) bool {
	if r.fd < 0 {
		return false
	}
	tail := atomic.LoadUint32(r.cqTail)
	for head := *r.cqHead; head != tail; head++ {
		if f(r.cqes[head&r.cqMask]) {
			return true
		}
	}
	return false
}

// Ready returns how many completions wait to be reaped.
func (r *Ring) Ready() uint32 {
	if r.fd < 0 {
		return 0
	}
	return atomic.LoadUint32(r.cqTail) - *r.cqHead
}

// Overflowed reports that completions wait in the kernel for room in
// the CQ: a SubmitAndWait(0, 0) moves them in.
func (r *Ring) Overflowed() bool {
	return r.fd >= 0 && atomic.LoadUint32(r.sqFlags)&sqCQOverflow != 0
}

func register(fd int, op uint32, arg unsafe.Pointer, n uint32) error {
	for {
		_, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(fd), uintptr(op), uintptr(arg), uintptr(n), 0, 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			continue
		}
		return os.NewSyscallError("io_uring_register", errno)
	}
}
