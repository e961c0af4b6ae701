package netpoll

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/upoll/upoll/internal/uring"
	"golang.org/x/sys/unix"
)

// BackendUring: the poller loop, Conn and everything above them are the
// epoll backend's; below them the pollset is an io_uring instance
// (uringSet), and an edge-triggered connection's input arrives as
// completions rather than as readiness:
//
//   - Interest becomes poll requests: edge-triggered is a multishot
//     POLL_ADD, level-triggered a one-shot POLL_ADD that the loop arms
//     again after each completion (so that a condition that still holds
//     is reported on the next wait, as epoll does), one-shot a one-shot
//     POLL_ADD. Their completions are the events.
//   - An edge-triggered connection, from its first read on, takes its
//     input by a multishot RECV that fills buffers of a provided-buffer
//     ring (off the Go heap) plus a multishot POLL_ADD for POLLOUT. Completed
//     pieces of buffers wait in the registration's stash; the poller's
//     read (readv) copies them into the connection's LinkBuffer and gives
//     them back at once, without a system call (on an incremental group a
//     buffer holds pieces of many connections and goes back to the kernel
//     with its last one). When the
//     receive ends (the buffer ring ran dry: ENOBUFS; a stash at its
//     bound was cancelled; the kernel ended it) the read falls back to
//     readv(2) on the socket until it is drained, then arms the receive
//     again: no byte is lost or reordered, since a request's completions
//     arrive in order and the stash is read before the socket. On a
//     socket other than TCP the receive is also cancelled when the poll
//     reports the peer's end, which it may never report itself, and the
//     socket is read to the end (peerEnded).
//   - The loop's own requests (re-arms, the switch to a receive) are
//     queued and go with its next io_uring_enter, the one that waits (or,
//     under WaitRuntime, the one call its check makes before parking when
//     requests are queued); requests made by other goroutines (add, mod,
//     del from a dialer, a handler, a closer) are submitted at once, as
//     epoll_ctl would be, except on a single-issuer ring (below).
//   - Waiting: WaitBlock, WaitSpin and the blocking half of WaitAdaptive
//     block in io_uring_enter; WaitRuntime parks in the Go runtime's
//     netpoller on a duplicate of the ring's descriptor (readable while
//     completions wait), holding no thread and no P, and WaitAdaptive's
//     other half through a gate that passes the ring's readiness on only
//     while it is parked (runtimePark.gate). Looking for completions is a
//     read of the shared ring, not a system call.
//   - Output flushed by a handler on its poller's leader is sent by a
//     SEND or WRITEV request that goes with the loop's next
//     io_uring_enter (uringSend), while the poller's sends in flight
//     stay within uringSendingMax bytes; other output is written as on epoll
//     (writev on the goroutine that flushes), and POLLOUT completions
//     resume what the kernel refused.
//
// Under DispatchHandoff, and under WaitRuntime and WaitAdaptive, the ring
// is set up without IORING_SETUP_SINGLE_ISSUER and DEFER_TASKRUN: the
// hand-off moves the duty to a goroutine on another thread exactly when
// the leader's thread is stuck in a handler, where a single issuer could
// neither submit nor see a completion, and a leader parked in the
// runtime would leave deferred completions waiting. The leader is pinned
// to its thread instead (pinLeader), so that the receives' task work
// runs where they are reaped; COOP_TASKRUN spares a running thread an
// interrupt for each completion's task work (it runs at the thread's
// next return to user space; a sleeping thread is still woken).
//
// Under DispatchInline and DispatchPool with WaitBlock the duty never
// moves and the leader waits in io_uring_enter: there the ring has one
// issuer, the pinned leader's thread, and DEFER_TASKRUN, so that the
// task work runs in the leader's enters, in batches (see
// uringSingleEnv). Other goroutines queue their requests and wake the
// leader (submitLocked); the leader closes the ring (loopDone).

// Ring sizes per poller: enough SQEs for a pass's re-arms, a CQ that a
// burst of multishot completions does not overflow, and receive buffers
// (2 MiB, the most the stashes of a poller's connections can hold; one
// connection's receive is cancelled at uringMaxStash, but on loopback the
// kernel can fill most of the ring before the cancel lands). Where the
// kernel consumes buffers incrementally (uringIncEnv) a completion takes
// only the bytes it received, so the group holds 2 MiB of input whatever
// the size of the messages; otherwise each takes a whole buffer, and 512
// connections with a small message each waiting run it dry.
const (
	uringSQEntries = 512
	uringCQEntries = 8192
	uringBufs      = 512
	uringBufSize   = 4 << 10
	uringMaxStash  = 16 // pieces of buffers one connection may hold before its receive is cancelled
)

// User data of requests: the wake-up poll, results of removals and
// cancels (ignored), and a registration's requests: its descriptor in
// the high 32 bits and a sequence number (never 0) above the low two,
// so that a completion of a request since replaced, or of a descriptor
// number since reused, matches no registration's pollUD or recvUD.
const (
	udWake     = 1
	udInternal = 2 // alone: results ignored; with an id above: a cancellation by cancel
	udSend     = 3 // low bits of a send's user data; its descriptor is above (uringSend)
	udSeqMask  = 1<<29 - 1

	// udAccept marks a listener's multishot accept among a
	// registration's requests, so that a connection it accepted after
	// the registration went is closed rather than lost.
	udAccept = 1 << 31
)

// uringSet is the pollset of a BackendUring poller.
type uringSet struct {
	r   *uring.Ring
	br  *uring.BufRing
	efd int

	// ended counts receives that ended with input possibly left in the
	// socket (ENOBUFS, cancelled at the stash bound or at the peer's end
	// (peerEnded), ended by the kernel), each followed by reads of the
	// socket itself.
	ended atomic.Uint64

	// mu serializes the submission side, the registrations and the
	// buffer ring; the blocking io_uring_enter runs without it.
	mu     sync.Mutex
	closed bool
	regs   []*uringReg // by descriptor
	// sending counts the bytes of the ring sends in flight, from their
	// submission to their completion (uringSendingMax).
	sending int
	seq     uint32
	cqes    []uring.CQE

	// Sends through the ring (see uringSend), when sendOn: in flight by
	// descriptor, completed and waiting to be settled once mu is
	// released, and spare ones.
	sendOn    bool
	zcOn      bool // stashed input enters LinkBuffers without a copy (uringZCEnv)
	acceptOn  bool // listeners by multishot accept (uringAcceptEnv)
	lockOn    bool // the leader keeps its thread (pinLeader)
	releaseOn bool // and lets go of it for parks beside busy goroutines (releaseForPark)

	// single: the ring has one issuer (IORING_SETUP_SINGLE_ISSUER, with
	// DEFER_TASKRUN where the kernel has it): the pinned leader's thread,
	// named when it enables the ring (pinLeader). Only that thread may
	// enter the kernel for the ring; others queue their requests and
	// wake it (submitLocked). See uringSingleEnv.
	single  bool
	sqpoll  bool // the kernel's thread reads the submission queue (UPOLL_URING_SQPOLL)
	enabled bool // the issuer has enabled the ring (IORING_SETUP_R_DISABLED until then)

	// cancels are the targets of the cancellations in flight on a
	// single-issuer ring, by the id in their user data (see cancel).
	cancels   map[uint32]uint64
	cancelSeq uint32

	// overflow holds the entries that goroutines other than the issuer
	// prepared while the queue was full (see sqe).
	overflow []uring.SQE

	closeErr error // what close met (a test looks)

	// tid is the thread of the pinned leader (0: none), since tidSince
	// (ns); moved counts the receives cancelled to be armed again on it.
	tid      int32
	tidSince int64
	moved    atomic.Uint64
	sends    []*uringSend
	sent     []*uringSend
	spare    []*uringSend

	// settling is the reaper's: the list of sent it swapped out last.
	settling []*uringSend

	// again lists listeners whose acceptor stopped at its batch with
	// accepted connections left: the next reap reports them again, as a
	// level-triggered poll would.
	again []*uringReg

	// WaitRuntime: a duplicate of the ring's descriptor, nonblocking,
	// registered with the runtime's netpoller.
	//
	// WaitAdaptive registers a gate instead (runtimePark.gate): a ring
	// registered with the runtime's netpoller wakes it whenever
	// completions are posted (docs/uring.md).
	runtimePark
}

// uringReg is one registered descriptor. Under uringSet.mu.
type uringReg struct {
	stash     []uringChunk // received, not yet read: stash[head:]
	pollUD    uint64       // the poll request in flight (0: none)
	recvUD    uint64       // the multishot receive in flight (0: none)
	fd        int32
	slot, gen int32
	in        uint32 // interest (ev* bits) as last given to add or mod
	errno     int32  // the error the receive (or the accept) ended with
	pollErrno int32  // the error other than ECANCELED a poll request ended with (pollErr)
	head      int32
	tid       int32        // the pinned leader's thread when the receive was armed (see pinLeader)
	recvMode  bool         // input comes by the receive (edge-triggered, after the first read)
	cancel    bool         // the receive is being cancelled (stash at its bound)
	signaled  bool         // an input event is out and the stash not yet drained
	eof       bool         // the receive saw EOF
	quiet     bool         // level: the poll in flight is multishot, armed after an unasked hang-up (see complete)
	hup       uint8        // the poll reported the peer's end in receive mode (hupNone, hupRecv, hupRead: see peerEnded)
	lis       *uringListen // a listening socket served by a multishot accept (pollUD); nil otherwise
	lent      *uringLent   // pieces this registration's connection holds in its LinkBuffer (zcOn)
}

// uringSend is a send of the head of a connection's outbound buffer by
// a SEND (one vector) or WRITEV request in the ring. It is queued when a
// Flush runs inside the connection's handler on its poller's leader
// (DispatchHandoff, edge-triggered), so that it rides on the loop's next
// io_uring_enter together with the rest of the pass's sends instead of
// costing a writev(2) each. From the queueing to the completion:
//
//   - the connection carries fSending and no other consumer of its
//     outbound buffer writes, skips or releases (writeOut returns at
//     once; a Flush past MaxOutput waits for the completion, as for room);
//   - the send holds a reference to the connection, so its buffers are
//     not freed and its descriptor is not closed (nor its number reused)
//     while the kernel may read them;
//   - Close is not delayed: its ASYNC_CANCEL by descriptor (del) ends
//     the send, whose completion then drops the reference.
//
// The completion is settled on the goroutine that reaped it, after mu is
// released (settle takes emu, which is taken before mu elsewhere): the
// bytes sent are skipped, the rest is written with writev, an error
// breaks the connection as a failed writev does, and a lingering close
// finishes once nothing is left.
type uringSend struct {
	c   *Conn
	iov [maxVecs]unix.Iovec // WRITEV's vectors, kept until the completion
	n   int                 // bytes submitted (uringSet.sending)
	res int32
}

// uringSendEnv set to 0 turns sends through the ring off for the
// pollers made meanwhile: output is then written with writev, as on
// epoll. It is an experiment's switch, not a configuration.
const uringSendEnv = "UPOLL_URING_SEND"

// uringZCEnv set to 0 makes the pollers made meanwhile copy stashed
// input into the connection's LinkBuffer and give each piece back at
// once, instead of linking the pieces as nodes (uringLent). An
// experiment's switch, like uringSendEnv.
const uringZCEnv = "UPOLL_URING_ZC"

// uringSQPollEnv set to 1 (or to a duration, the idle time) gives each
// ring of the pollers made meanwhile a kernel submission thread
// (IORING_SETUP_SQPOLL): the loop's submissions are stores to the
// shared ring, and io_uring_enter is left for waiting and for waking
// the thread once it has been idle for uringSQPollIdle. The thread is a
// task of the process (iou-sqp-<pid> in /proc/<pid>/task) and spins
// while there is work: its CPU is the process's, on top of the
// pollers'. An experiment's switch, like uringSendEnv; the leader is
// not pinned under it (the thread, not the leader, issues the requests
// and runs their task work).
const uringSQPollEnv = "UPOLL_URING_SQPOLL"

// uringSQPollIdle is how long a submission thread spins without work
// before it sleeps, unless uringSQPollEnv gives a duration.
const uringSQPollIdle = 50 * time.Millisecond

// uringSQPoll returns the idle time of a submission thread asked for
// by uringSQPollEnv, and whether one was; a value that is neither 0, 1
// nor a positive duration is an error naming the variable.
func uringSQPoll() (time.Duration, bool, error) {
	v := os.Getenv(uringSQPollEnv)
	switch v {
	case "", "0":
		return 0, false, nil
	case "1":
		return uringSQPollIdle, true, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d, true, nil
	}
	return 0, false, fmt.Errorf("netpoll: %s=%q: want 0, 1 or a positive duration such as 20ms", uringSQPollEnv, v)
}

// uringBatchEnv asks the rings of the pollers made meanwhile to batch
// their blocking waits: "N,WAIT" (16,100us) makes a wait for one
// completion wait for N during at most WAIT, then return with any
// (uring.Ring.SetBatch). An experiment's switch, off by default: at
// 1000 connections it made the waits fewer and the server cheaper, at 10
// it added the wait to every pass (docs/uring.md).
const uringBatchEnv = "UPOLL_URING_BATCH"

// uringBatch returns the batch asked for by uringBatchEnv (n 0: none);
// a value that is not "0" nor "N,WAIT" with N from 2 to 4096 and WAIT a
// duration from 1µs to 1s is an error naming the variable.
func uringBatch() (n uint32, wait time.Duration, err error) {
	v := os.Getenv(uringBatchEnv)
	if v == "" || v == "0" {
		return 0, 0, nil
	}
	ns, ws, ok := strings.Cut(v, ",")
	k, kerr := strconv.Atoi(ns)
	d, derr := time.ParseDuration(ws)
	if !ok || kerr != nil || derr != nil || k < 2 || k > 4096 || d < time.Microsecond || d > time.Second {
		return 0, 0, fmt.Errorf("netpoll: %s=%q: want 0, or N,WAIT with N from 2 to 4096 and WAIT from 1µs to 1s, such as 16,100us", uringBatchEnv, v)
	}
	return uint32(k), d, nil
}

// uringIncEnv set to 0 makes the pollers made meanwhile register their
// buffer group without IOU_PBUF_RING_INC, as a kernel before 6.12 does:
// each completion then takes a whole buffer. An experiment's switch,
// like uringSendEnv.
const uringIncEnv = "UPOLL_URING_INC"

// uringLockEnv set to 0 lets the leader of the pollers made meanwhile
// run on any thread (see pinLeader). An experiment's switch.
const uringLockEnv = "UPOLL_URING_LOCK"

// uringReleaseEnv set to 1 makes the pinned leaders of the pollers made
// meanwhile let go of their thread for a park in the runtime that
// WaitAdaptive chose because goroutines other than pollers were running
// (releaseForPark). An experiment's switch, off by default: on 2 cores
// it gave the other goroutines their share back at the cost of the
// server's own rate (docs/scaling.md).
const uringReleaseEnv = "UPOLL_URING_RELEASE"

// uringSingleEnv set to 0 keeps the rings of the pollers made meanwhile
// open to every thread (SUBMIT_ALL|COOP_TASKRUN), as under the other
// dispatch and wait strategies. Otherwise a poller whose duty never
// moves (DispatchInline or DispatchPool) and that waits in the kernel
// (WaitBlock) gets a ring with one issuer, its pinned leader's thread,
// and DEFER_TASKRUN: the completions' task work runs inside the
// leader's io_uring_enter, in batches, instead of interrupting or
// waking it for each (docs/uring.md). An experiment's switch, like
// uringSendEnv.
const uringSingleEnv = "UPOLL_URING_SINGLE"

// uringSingle reports whether cfg's pollers get single-issuer rings
// (see uringSingleEnv).
func uringSingle(cfg *config) bool {
	return (cfg.Dispatch == DispatchInline || cfg.Dispatch == DispatchPool) &&
		cfg.Wait == WaitBlock && os.Getenv(uringSingleEnv) != "0"
}

// uringAcceptEnv set to 1 serves the listeners of the pollers made
// meanwhile by a multishot accept, except those of WrapListener (see
// listenShared); otherwise they are polled and accepted with accept4,
// as on epoll. An experiment's switch, like uringSendEnv;
// off by default, since a connection then costs a getpeername and the
// accept's completion instead of an accept4 and a poll, which was not
// cheaper (docs/uring.md).
const uringAcceptEnv = "UPOLL_URING_ACCEPT"

// uringListen is what a listener served by a multishot accept holds:
// the connections accepted and not yet handed to its acceptor.
type uringListen struct {
	fds []int32
	// retired are the multishot accepts that a pause (mod) cancelled
	// and that may still complete: the connections they took are the
	// listener's all the same.
	retired []uint64
	// owed says that the accept is to be armed once the last retired
	// one has ended, not before: the kernel wakes one accept request of
	// a socket per connection, and a retired one still on the socket's
	// wait queue may take that wake-up and end without the connection,
	// which would then wait in the backlog with no wake-up to come for
	// the armed one. So a listener has at most one accept in the kernel.
	owed bool
}

// unretire forgets a retired multishot accept, once it has ended.
func (l *uringListen) unretire(ud uint64) {
	if i := slices.Index(l.retired, ud); i >= 0 {
		l.retired = slices.Delete(l.retired, i, i+1)
	}
}

// retiredAccept returns the listener a completion of a retired
// multishot accept belongs to, or nil. Under mu.
func (u *uringSet) retiredAccept(c uring.CQE) *uringReg {
	if c.UserData&udAccept == 0 {
		return nil
	}
	reg := u.reg(int(c.UserData >> 32))
	if reg == nil || reg.lis == nil {
		return nil
	}
	if slices.Contains(reg.lis.retired, c.UserData) {
		return reg
	}
	return nil
}

// uringChunk is received input waiting in a provided buffer.
type uringChunk struct {
	id   uint16
	data []byte
}

// uringAvailable is uring.Available; a test replaces it to see how a
// refusal reaches the caller.
var uringAvailable = uring.Available

// resolveUring checks that io_uring can serve here; edge-triggered is
// its trigger unless one was asked for (it is the one whose input comes
// by completions). A resource the probe could not get then (EMFILE,
// ENOMEM: not uring.ErrUnavailable) is reported as itself, as when a
// poller's ring cannot be set up (newUringSet): io_uring is not
// unavailable, and the next call probes again.
func (c *config) resolveUring(envSet uint16) error {
	if err := uringAvailable(); errors.Is(err, uring.ErrUnavailable) {
		return fmt.Errorf("%w: uring: %w", ErrBackendUnavailable, err)
	} else if err != nil {
		return fmt.Errorf("netpoll: uring: %w", err)
	}
	if (c.set|envSet)&(optTrigger|optCfgTrigger) == 0 {
		c.Trigger = EdgeTriggered
	}
	return nil
}

// openPollset opens the pollset of a poller of cfg's backend.
func openPollset(cfg *config, ctr *pollerCounters) (*pollset, error) {
	runtimeWait := cfg.Wait == WaitRuntime || cfg.Wait == WaitAdaptive
	if cfg.Backend != BackendUring {
		return newPollset(runtimeWait, cfg.Wait == WaitAdaptive, &ctr.waits)
	}
	u, err := newUringSet(runtimeWait, cfg.Wait == WaitAdaptive, uringSingle(cfg))
	if err != nil {
		return nil, err
	}
	return &pollset{ur: u}, nil
}

// newUringSet makes the ring of a poller; runtimeWait makes waitRuntime
// usable, gated puts a gate between the ring and the runtime (see
// runtimePark.gate).
func newUringSet(runtimeWait, gated, single bool) (*uringSet, error) {
	var r *uring.Ring
	idle, sqpoll, err := uringSQPoll()
	if err != nil {
		return nil, err
	}
	batch, batchWait, err := uringBatch()
	if err != nil {
		return nil, err
	}
	lockOn := os.Getenv(uringLockEnv) != "0" && !sqpoll
	single = single && lockOn // the issuer is the pinned leader
	if sqpoll {
		r, err = uring.NewSQPoll(uringSQEntries, uringCQEntries, uring.SetupSubmitAll|uring.SetupCoopTaskrun, idle)
	} else if single {
		// Disabled until the leader enables it from its thread, which
		// thereby becomes the issuer (pinLeader).
		r, err = uring.New(uringSQEntries, uringCQEntries, uring.SetupSubmitAll|uring.SetupSingleIssuer|uring.SetupDeferTaskrun|uring.SetupRDisabled)
	} else {
		r, err = uring.New(uringSQEntries, uringCQEntries, uring.SetupSubmitAll|uring.SetupCoopTaskrun)
	}
	if errors.Is(err, uring.ErrUnavailable) {
		return nil, fmt.Errorf("%w: uring: %w", ErrBackendUnavailable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("netpoll: uring: %w", err) // EMFILE and the like
	}
	u := &uringSet{r: r, efd: -1, cqes: make([]uring.CQE, maxEvents)}
	u.gate = -1
	u.sendOn = os.Getenv(uringSendEnv) != "0"
	u.zcOn = os.Getenv(uringZCEnv) != "0"
	u.acceptOn = os.Getenv(uringAcceptEnv) == "1"
	u.lockOn = lockOn
	u.releaseOn = lockOn && os.Getenv(uringReleaseEnv) == "1"
	if u.releaseOn {
		countPassing.Store(true) // othersRunning needs every poller counted
	}
	u.single = r.Flags()&uring.SetupSingleIssuer != 0
	u.sqpoll = r.Flags()&uring.SetupSQPoll != 0
	fail := func(err error) (*uringSet, error) {
		u.release()
		return nil, err
	}
	if err := r.SetBatch(batch, batchWait); err != nil {
		return fail(fmt.Errorf("netpoll: %s: %w", uringBatchEnv, err))
	}
	if os.Getenv(uringIncEnv) != "0" {
		// Any failure here (EINVAL before Linux 6.12) falls back to a
		// plain ring, whose own error, if any, is the one reported.
		u.br, _ = r.NewBufRingIncremental(0, uringBufs, uringBufSize)
	}
	if u.br == nil {
		// Before Linux 6.12, or turned off.
		if u.br, err = r.NewBufRing(0, uringBufs, uringBufSize); err != nil {
			return fail(err)
		}
	}
	if u.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fail(os.NewSyscallError("eventfd", err))
	}
	u.mu.Lock()
	u.armWake()
	if !u.single {
		_, err = u.r.Submit()
	} // else it goes with the issuer's first io_uring_enter
	u.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	if runtimeWait {
		fd, name, err := u.runtimeFd(gated)
		if err != nil {
			return fail(err)
		}
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			return fail(os.NewSyscallError("fcntl", err))
		}
		if err := u.initPark(fd, name, u.poll); err != nil {
			return fail(err)
		}
		if gated {
			u.gate, u.gated = fd, u.r.Fd()
		}
	}
	return u, nil
}

// runtimeFd returns the descriptor the runtime's netpoller is to watch:
// a duplicate of the ring's, or a gate holding the ring's, disarmed.
func (u *uringSet) runtimeFd(gated bool) (int, string, error) {
	if !gated {
		fd, err := unix.FcntlInt(uintptr(u.r.Fd()), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return -1, "", os.NewSyscallError("fcntl", err)
		}
		return fd, "io_uring", nil
	}
	gate, err := newGate(u.r.Fd())
	return gate, "io_uring gate", err
}

// sqe returns a free submission entry, submitting what is queued when
// the queue is full. Under mu.
//
// On a single-issuer ring a goroutine other than the issuer that finds
// the queue full (or entries already waiting behind it) gets an entry of
// overflow instead, valid until the next call: the issuer moves them
// into the queue, in order, before it next enters the kernel
// (moveOverflow), woken for it.
func (u *uringSet) sqe() (*uring.SQE, error) {
	if u.single && len(u.overflow) > 0 {
		if !u.onIssuer() {
			return u.overflowSQE(), nil
		}
		if err := u.moveOverflow(); err != nil {
			return nil, err
		}
	}
	if s := u.r.SQE(); s != nil {
		return s, nil
	}
	if u.single && !u.onIssuer() {
		return u.overflowSQE(), nil
	}
	return u.submitForSQE()
}

// submitForSQE submits the full queue and returns the entry it frees.
// Under mu, on a thread that may submit.
func (u *uringSet) submitForSQE() (*uring.SQE, error) {
	if _, err := u.r.Submit(); err != nil {
		return nil, err
	}
	if s := u.r.SQE(); s != nil {
		return s, nil
	}
	return nil, os.NewSyscallError("io_uring_enter", unix.EBUSY)
}

// overflowSQE returns a new entry at the end of overflow and wakes the
// issuer. Under mu.
func (u *uringSet) overflowSQE() *uring.SQE {
	if len(u.overflow) == 0 {
		u.poke()
	}
	u.overflow = append(u.overflow, uring.SQE{})
	return &u.overflow[len(u.overflow)-1]
}

// moveOverflow moves the entries of overflow into the queue, submitting
// when it is full. Under mu, on the issuer.
func (u *uringSet) moveOverflow() error {
	for i := range u.overflow {
		s := u.r.SQE()
		if s == nil {
			var err error
			if s, err = u.submitForSQE(); err != nil {
				u.overflow = append(u.overflow[:0], u.overflow[i:]...)
				return err
			}
		}
		*s = u.overflow[i]
	}
	u.overflow = u.overflow[:0]
	return nil
}

// armWake arms the multishot poll of the wake-up eventfd. Under mu.
func (u *uringSet) armWake() {
	if s, err := u.sqe(); err == nil {
		s.PrepPollAdd(u.efd, unix.POLLIN, true, false, udWake)
	}
}

// newUD returns the user data of a new request of reg. Under mu.
func (u *uringSet) newUD(reg *uringReg) uint64 {
	u.seq = (u.seq + 1) & udSeqMask
	if u.seq == 0 {
		u.seq = 1
	}
	return uint64(uint32(reg.fd))<<32 | uint64(u.seq)<<2
}

// reg returns the registration of fd, or nil. Under mu.
func (u *uringSet) reg(fd int) *uringReg {
	if fd < 0 || fd >= len(u.regs) {
		return nil
	}
	return u.regs[fd]
}

// owner returns the registration that a completion's request belongs
// to, or nil when the request was replaced or its registration is gone.
// Under mu.
func (u *uringSet) owner(ud uint64) *uringReg {
	reg := u.reg(int(ud >> 32))
	if reg == nil || ud != reg.pollUD && ud != reg.recvUD {
		return nil
	}
	return reg
}

// pollMask is the poll interest of reg's poll request.
//
// Never POLLPRI. A poll request's completion carries the mask of the
// wake-up that fired it, where epoll asks the socket (vfs_poll), and TCP
// wakes its readers with EPOLLIN|EPOLLPRI|EPOLLRDNORM|EPOLLRDBAND for
// every arrival of data: asked for, POLLPRI came with ordinary input,
// and the event claimed urgent data that no peer sent (an edge-triggered
// fill then read once more, for nothing: see shortDrains). The urgent
// mark is found by the read instead (readv, readPastMark), as in
// receive mode, where the poll asks for POLLOUT only.
func (reg *uringReg) pollMask() uint32 {
	if reg.recvMode {
		return unix.POLLOUT
	}
	return reg.in & (evIn | evOut | evRDHup)
}

// armPoll queues reg's poll request under user data ud. Under mu.
func (u *uringSet) armPoll(reg *uringReg, ud uint64) error {
	if reg.lis != nil && reg.in&evIn == 0 {
		return nil // disarmed (accept back-off)
	}
	if reg.lis != nil && len(reg.lis.retired) > 0 {
		reg.lis.owed = true // armed by completeAccept (see uringListen.owed)
		return nil
	}
	s, err := u.sqe()
	if err != nil {
		return err
	}
	if reg.lis != nil {
		reg.lis.owed = false
		// Every connection the listener gets, one completion each,
		// until an error (EMFILE...) ends it; see accept.
		ud |= udAccept
		s.PrepAcceptMultishot(int(reg.fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, ud)
		reg.pollUD = ud
		return nil
	}
	// Edge-triggered: multishot (edge is io_uring's default for it).
	// Level and one-shot: one completion; level is armed again by the
	// loop after each (complete), or multishot while quiet.
	s.PrepPollAdd(int(reg.fd), reg.pollMask(), reg.in&evET != 0 || reg.quiet, false, ud)
	reg.pollUD = ud
	return nil
}

// armRecv queues reg's multishot receive; drained says that a read
// has just found the socket empty. Under mu.
//
// Such a receive waits for input before it takes a buffer
// (IORING_RECVSEND_POLL_FIRST). Otherwise the kernel selects a buffer
// as it issues the receive, and on a dry group the receive ends with
// ENOBUFS at once, input or not: the read that follows finds the socket
// empty and arms it again, and an idle connection spins through
// io_uring_enter and readv for as long as the group stays dry.
func (u *uringSet) armRecv(reg *uringReg, drained bool) error {
	s, err := u.sqe()
	if err != nil {
		return err
	}
	reg.recvUD, reg.tid = u.newUD(reg), u.tid
	s.PrepRecvMultishot(int(reg.fd), u.br.Group(), reg.recvUD)
	if drained {
		s.Ioprio |= uring.RecvsendPollFirst
	}
	return nil
}

// ctl is add, mod and del (EPOLL_CTL_* ops), submitted at once.
func (u *uringSet) ctl(op, fd int, in uint32, slot, gen int32) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return errPollerClosed
	}
	reg := u.reg(fd)
	switch op {
	case unix.EPOLL_CTL_ADD:
		if reg != nil {
			return os.NewSyscallError("io_uring poll_add", unix.EEXIST)
		}
		reg = &uringReg{fd: int32(fd), slot: slot, gen: gen, in: in}
		if u.acceptOn && slot <= tagListener && gen != listenShared {
			// Not a shared socket's: a multishot accept would take
			// connections until its cancellation, after the Listener's
			// Close, from the caller's listener that shares it.
			reg.lis = new(uringListen)
		}
		if fd >= len(u.regs) {
			u.regs = append(u.regs, make([]*uringReg, fd+1-len(u.regs))...)
		}
		u.regs[fd] = reg
		if err := u.armPoll(reg, u.newUD(reg)); err != nil {
			u.forget(reg)
			return err
		}
		var err error
		if testHookAddSubmit != nil {
			err = testHookAddSubmit()
		}
		if err == nil {
			err = u.submitLocked()
		}
		if err != nil {
			// The caller closes fd on the error, and its number goes to
			// the next socket, which would find reg (EEXIST). The poll
			// stays queued in the ring for the next enter that
			// succeeds, where it would watch whatever fd names then:
			// its cancellation, by user data, goes right after it.
			if reg.pollUD != 0 {
				u.cancel(reg.pollUD)
			}
			u.forget(reg)
			return err
		}
		return nil
	case unix.EPOLL_CTL_MOD:
		if reg == nil {
			return os.NewSyscallError("io_uring poll_add", unix.ENOENT)
		}
		if reg.lis != nil && reg.pollUD != 0 {
			reg.lis.retired = append(reg.lis.retired, reg.pollUD)
		}
		u.removePoll(reg)
		reg.slot, reg.gen, reg.in = slot, gen, in
		reg.quiet = false
		if err := u.armPoll(reg, u.newUD(reg)); err != nil {
			return err
		}
		if reg.lis != nil && in&evIn != 0 {
			// Armed again after a pause (the accept gate), which may
			// have come between an event and the accept it asked for:
			// the next completion reports the listener, and
			// connections taken before the pause are reported by the
			// next reap (see accept), for which the loop is woken.
			reg.signaled = false
			if len(reg.lis.fds) > 0 {
				u.again = append(u.again, reg)
				u.poke()
			}
		}
	case unix.EPOLL_CTL_DEL:
		if reg == nil {
			return os.NewSyscallError("io_uring poll_remove", unix.ENOENT)
		}
		// Every request on fd ends; completions still on their way
		// find no registration and give their buffers back. Where the
		// kernel may see the cancellation after close(2) has freed the
		// descriptor number (a single issuer submits it later; under
		// SQPOLL the kernel's thread reads it later), it goes by each
		// request's user data: by descriptor it would find nothing, or
		// a new connection's requests, and the old requests would keep
		// the socket open.
		if u.single || u.sqpoll {
			u.cancelAll(reg)
		} else if s, err := u.sqe(); err == nil {
			s.PrepCancelFD(fd, udInternal)
		}
		if u.single && !u.onIssuer() {
			u.dropQueued(reg)
		}
		u.forget(reg)
		if u.sqpoll {
			// The caller closes fd next, and its number goes to the
			// next connection. A request of fd that the kernel's
			// thread has not taken yet (the loop's receive or poll,
			// published with this cancellation) would be issued on
			// that new connection's socket: a receive there takes its
			// first bytes, whose completion nobody owns, before the
			// cancellation ends it. So fd is closed only once the
			// thread has taken the queue.
			err := u.submitLocked()
			u.waitTaken()
			return err
		}
	}
	return u.submitLocked()
}

// testHookAddSubmit, when set by a test, runs in ctl's add in place of
// the submission when it returns an error (a failed io_uring_enter).
// Under mu.
var testHookAddSubmit func() error

// uringTakeWait bounds how long a deregistration under SQPOLL waits for
// the kernel's thread to take the submission queue (waitTaken).
const uringTakeWait = time.Second

// waitTaken waits until the kernel's submission thread (SQPOLL) has
// taken every entry published, at most uringTakeWait: taken, a request
// holds the file its descriptor named, whatever the number names later.
// Under mu.
func (u *uringSet) waitTaken() {
	deadline := time.Now().Add(uringTakeWait)
	for u.r.Pending() > 0 && time.Now().Before(deadline) {
		if _, err := u.r.Submit(); err != nil { // wakes a thread gone idle
			return
		}
		runtime.Gosched()
	}
}

// dropQueued makes no-ops of the requests of reg still queued on a
// single-issuer ring, for a deregistration off the issuer. The caller
// closes fd next, and its number goes to the next socket, possibly
// before the issuer's next io_uring_enter: a request issued then (the
// loop's re-arm, the receive its first read queued) would resolve the
// number to that socket, and a receive there takes its first bytes
// under user data nobody owns, ahead of the cancellation queued behind
// it. Entries the issuer has published are not rewritten under the
// kernel: it is about to enter, and fd waits until it has (at most
// uringTakeWait), as waitTaken does under SQPOLL. Under mu.
func (u *uringSet) dropQueued(reg *uringReg) {
	drop := func(s *uring.SQE) {
		if s.UserData>>32 == uint64(uint32(reg.fd)) && s.UserData&3 == 0 {
			*s = uring.SQE{} // no buffer selection, no flags
			s.PrepNop(udInternal)
		}
	}
	u.r.Unpublished(drop)
	for i := range u.overflow {
		drop(&u.overflow[i])
	}
	deadline := time.Now().Add(uringTakeWait)
	for u.r.Unconsumed() > 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
}

// submitLocked submits what is queued, as epoll_ctl takes effect at
// once. On a single-issuer ring a goroutine other than the issuer
// cannot: it wakes the issuer, whose next io_uring_enter (at once if it
// was waiting) submits the queue. Under mu.
func (u *uringSet) submitLocked() error {
	if u.single && !u.onIssuer() {
		u.poke()
		return nil
	}
	_, err := u.r.Submit()
	return err
}

// onIssuer reports whether the caller runs on the thread of the
// pinned leader, the issuer of a single-issuer ring. Under mu.
func (u *uringSet) onIssuer() bool {
	return u.tid != 0 && int32(unix.Gettid()) == u.tid
}

// poke makes the wake-up eventfd readable: a leader waiting in
// io_uring_enter returns. Under mu.
func (u *uringSet) poke() { signalEventfd(u.efd) }

// cancelAll queues the cancellation of each request of reg by its user
// data: on a single-issuer ring a goroutine other than the issuer only
// queues its requests, and the descriptor may be closed before the
// issuer submits them, when a cancellation by descriptor would find
// nothing to cancel and the requests would keep the socket open. Under
// mu.
func (u *uringSet) cancelAll(reg *uringReg) {
	fd := int(reg.fd)
	var send uint64
	if fd < len(u.sends) && u.sends[fd] != nil {
		send = sendUD(fd)
	}
	for _, ud := range []uint64{reg.pollUD, reg.recvUD, send} {
		if ud != 0 {
			u.cancel(ud)
		}
	}
}

// cancel queues the cancellation of the request with user data target,
// and remembers it until its completion: a request whose completion's
// task work is queued and not yet run cannot be cancelled (EALREADY),
// and a multishot one would then go on, holding its socket (or filling
// the buffer group), so the cancellation is queued again (complete).
// It reports false when no entry was free. Under mu.
func (u *uringSet) cancel(target uint64) bool {
	s, err := u.sqe()
	if err != nil {
		return false
	}
	u.cancelSeq++
	if u.cancelSeq == 0 {
		u.cancelSeq = 1
	}
	if u.cancels == nil {
		u.cancels = make(map[uint32]uint64)
	}
	u.cancels[u.cancelSeq] = target
	s.PrepCancel(target, 0, uint64(u.cancelSeq)<<32|udInternal)
	return true
}

// sendUD is the user data of a send on fd (see uringSend).
func sendUD(fd int) uint64 { return uint64(uint32(fd))<<32 | udSend }

// removePoll queues the removal of reg's poll request. Under mu.
//
// By ASYNC_CANCEL, not POLL_REMOVE: POLL_REMOVE fails with EALREADY
// when the poll's wake-up is being handled (its task work queued, not
// yet run), and a multishot poll then stays armed under a user data
// nobody matches. A cancellation marks the poll cancelled whatever its
// state. Under SQPOLL (and on a single issuer) del cancels by user
// data, so such a poll was never cancelled and held the socket open
// after Close: the peer saw no FIN.
func (u *uringSet) removePoll(reg *uringReg) {
	if reg.pollUD == 0 {
		return
	}
	if u.single {
		u.cancel(reg.pollUD)
	} else if s, err := u.sqe(); err == nil {
		s.PrepCancel(reg.pollUD, 0, udInternal)
	}
	reg.pollUD = 0
}

// forget drops reg and gives its stashed pieces back. Under mu.
func (u *uringSet) forget(reg *uringReg) {
	u.regs[reg.fd] = nil
	reg.pollUD, reg.recvUD = 0, 0
	for _, ch := range reg.stash[reg.head:] {
		u.br.Recycle(ch.id)
	}
	clear(reg.stash)
	reg.stash, reg.head = reg.stash[:0], 0
	if reg.lis != nil {
		for _, fd := range reg.lis.fds {
			sysClose(int(fd))
		}
		reg.lis.fds = nil
	}
}

// wait returns ready events; msec < 0 blocks, 0 polls. A poll with
// nothing queued to submit makes no system call, except on a
// single-issuer ring (see poll).
func (u *uringSet) wait(events []event, msec int) (int, error) {
	if msec == 0 || !u.single {
		// On a single-issuer ring completions appear only in an
		// io_uring_enter that asks for events: a blocking one returns
		// at once when there are some, so it is not preceded by a poll.
		if n, err := u.poll(events); n > 0 || err != nil || msec == 0 {
			return n, err
		}
	}
	if err := u.shutGate(); err != nil {
		return 0, err
	}
	timeout := time.Duration(-1)
	if msec > 0 {
		timeout = time.Duration(msec) * time.Millisecond
	}
	for {
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			return 0, errPollerClosed
		}
		if u.single {
			if err := u.moveOverflow(); err != nil {
				u.mu.Unlock()
				return 0, err
			}
		}
		pending := u.r.Flush()
		u.mu.Unlock()
		_, err := u.r.Enter(pending, 1, timeout)
		if err != nil {
			return 0, err
		}
		n := u.reap(events)
		if n > 0 || timeout >= 0 {
			return n, nil
		}
	}
}

// poll submits what the loop queued (one system call when there is
// any) and reaps. On a single-issuer ring it always enters the kernel:
// completions appear only when the issuer asks for events.
func (u *uringSet) poll(events []event) (int, error) {
	n, err := u.pollOnce(events)
	// A reap may queue requests and report nothing (complete arms a
	// quiet poll for a hang-up it does not report): they go in now. The
	// caller may park next, and nothing would submit them until
	// another goroutine's request woke the loop.
	for i := 0; i < 2 && n == 0 && err == nil && u.pending() > 0; i++ {
		n, err = u.pollOnce(events)
	}
	return n, err
}

// pending returns the requests queued and not yet submitted.
func (u *uringSet) pending() uint32 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.r.Pending()
}

// pollOnce is one submission and reap of poll.
func (u *uringSet) pollOnce(events []event) (int, error) {
	u.mu.Lock()
	pending := u.r.Pending()
	closed := u.closed
	u.mu.Unlock()
	if closed {
		return 0, errPollerClosed
	}
	if pending > 0 || u.r.Overflowed() || u.single {
		u.mu.Lock()
		var err error
		if u.single {
			// Submits, and runs the completions' deferred task work
			// (DEFER_TASKRUN), which only an enter for events does.
			if err = u.moveOverflow(); err == nil {
				_, err = u.r.Enter(u.r.Flush(), 0, 0)
			}
		} else {
			_, err = u.r.Submit()
		}
		if err == nil && u.r.Overflowed() {
			_, err = u.r.Enter(0, 0, 0)
		}
		u.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
	return u.reap(events), nil
}

// submit sends what the loop queued in the ring (sends, re-arms), one
// io_uring_enter when there is any; a no-op on epoll.
func (ep *pollset) submit() {
	u := ep.ur
	if u == nil {
		return
	}
	u.mu.Lock()
	if !u.closed && u.r.Pending() > 0 {
		u.submitLocked()
	}
	u.mu.Unlock()
}

// reap turns completions into events, at most len(events), and settles
// the sends that completed.
func (u *uringSet) reap(events []event) int {
	u.mu.Lock()
	n := u.reapLocked(events)
	done := u.sent
	u.sent, u.settling = u.settling[:0], nil
	u.mu.Unlock()
	if len(done) > 0 {
		for i, st := range done {
			u.settle(st)
			done[i] = nil
		}
	}
	u.settling = done[:0]
	return n
}

func (u *uringSet) reapLocked(events []event) int {
	if u.closed {
		return 0
	}
	n := 0
	for i, reg := range u.again {
		if n < len(events) && u.reg(int(reg.fd)) == reg && len(reg.lis.fds) > 0 && !reg.signaled {
			reg.signaled = true
			events[n] = event{slot: reg.slot, gen: reg.gen, ready: evIn}
			n++
		}
		u.again[i] = nil
	}
	u.again = u.again[:0]
	for n < len(events) {
		k := u.r.Reap(u.cqes[:min(len(u.cqes), len(events)-n)])
		if k == 0 {
			break
		}
		for _, c := range u.cqes[:k] {
			if u.complete(c, &events[n]) {
				n++
			}
		}
	}
	return n
}

// complete handles one completion; it reports whether ev was filled.
// Under mu.
func (u *uringSet) complete(c uring.CQE, ev *event) bool {
	switch c.UserData {
	case udWake:
		if !c.More() {
			u.armWake()
		}
		*ev = event{slot: tagWake, ready: evIn}
		return true
	case udInternal:
		return false
	}
	if c.UserData&3 == udInternal {
		// A cancellation made by cancel.
		id := uint32(c.UserData >> 32)
		target, ok := u.cancels[id]
		delete(u.cancels, id)
		if ok && c.Res == -int32(unix.EALREADY) {
			u.cancel(target)
		}
		return false
	}
	if c.UserData&3 == udSend {
		u.completeSend(c)
		return false
	}
	reg := u.owner(c.UserData)
	if reg == nil {
		if r := u.retiredAccept(c); r != nil {
			return u.completeAccept(r, c, ev, false)
		}
		// A request of a registration since deleted or modified.
		if c.UserData&udAccept != 0 && c.Res >= 0 {
			sysClose(int(c.Res)) // accepted after the listener went
		} else {
			u.dropBuffer(c)
		}
		return false
	}
	if c.UserData == reg.recvUD {
		return u.completeRecv(reg, c, ev)
	}
	if reg.lis != nil {
		return u.completeAccept(reg, c, ev, true)
	}
	if !c.More() {
		reg.pollUD = 0
	}
	if c.Res < 0 {
		if c.Res == -int32(unix.ECANCELED) {
			// Not a cancellation of ours: removePoll and del leave no
			// registration owning the request they cancel. The kernel
			// ended the poll: the thread that submitted it has exited
			// (a goroutine locked to its thread returned after a write
			// that armed EPOLLOUT, a ResumeAccept...), and io_uring ends
			// such a thread's requests at their next wake-up. Armed
			// again by the loop, whose thread stays, it completes at
			// once if the condition holds; left alone, the connection
			// would never hear of its socket again.
			if reg.pollUD == 0 {
				u.armPoll(reg, u.newUD(reg))
			}
			return false
		}
		// The kernel refused the poll or ended it: EBADF (the number
		// names no open file), EINVAL (the file cannot be polled so),
		// ENOMEM (no room for a second wait queue entry). Armed again
		// it would fail the same way, once per pass; left alone, the
		// socket is watched no more and the connection waits for good
		// (its socket reports no error). The event breaks it with
		// this error (pollErr).
		reg.pollErrno = -c.Res
		*ev = event{slot: reg.slot, gen: reg.gen, ready: evErr}
		return true
	}
	ready := uint32(c.Res) & (evIn | evOut | evErr | evHup | evRDHup) // no evPri: see pollMask
	if reg.recvMode && ready&(evRDHup|evHup) != 0 {
		u.peerEnded(reg)
	}
	if reg.in&evET == 0 && ready&(reg.pollMask()|evErr|evHup) == 0 {
		// Level or one-shot, and nothing asked for: the peer's hang-up, which
		// io_uring's poll watches for whether asked or not and epoll
		// reports only when asked (a connection that wants no input,
		// paused or past EOF, does not ask). Not reported, as on
		// epoll; and not polled again single-shot, which would
		// complete at once for as long as the FIN stands (an
		// io_uring_enter per turn: a spin). A multishot poll of the
		// same interest completes only when the socket is woken
		// again: room to write (a writer that met EAGAIN, or a poll
		// that found the socket full, has the kernel wake it), an
		// error, or both sides down. It stays until the interest
		// changes (ctl), reporting each such wake-up as an edge; a
		// one-shot registration's ends at the first it reports.
		if reg.pollUD == 0 {
			reg.quiet = true
			u.armPoll(reg, u.newUD(reg))
		}
		return false
	}
	if reg.quiet && reg.in&evOne != 0 {
		u.removePoll(reg)
		reg.quiet = false
	}
	if reg.pollUD == 0 && reg.in&evOne == 0 {
		// Level-triggered (or a multishot poll the kernel ended): armed
		// again now, it completes at once on the next wait if the
		// condition still holds.
		u.armPoll(reg, u.newUD(reg))
	}
	*ev = event{slot: reg.slot, gen: reg.gen, ready: ready}
	return true
}

// peerEnded handles the peer's end (POLLRDHUP or POLLHUP) that reg's
// poll reported in receive mode. A receive on a socket that does not
// see the end itself (see sockSeesEnd) is ended, and none is armed again
// after a read that took something (hupRead): the input left is read
// from the socket, which returns the end once it is drained, as no more
// can come (a read that meets EAGAIN, which the end rules out, arms one
// all the same). Ended by a cancellation, the receive's last completion
// (ECANCELED, or its own end) comes after all its data, which the reads
// take first (stashRead). Under mu.
func (u *uringSet) peerEnded(reg *uringReg) {
	if reg.hup == hupNone {
		reg.hup = hupRead
		if sockSeesEnd(int(reg.fd)) {
			reg.hup = hupRecv
		}
	}
	if reg.hup == hupRead && reg.recvUD != 0 && !reg.cancel {
		reg.cancel = u.cancel(reg.recvUD)
	}
}

// uringReg.hup: whether reg's poll has reported the peer's end and,
// if so, whether its receive reports it too (see sockSeesEnd).
const (
	hupNone = iota // not reported (or not in receive mode then)
	hupRecv        // reported; the receive sees it too (TCP)
	hupRead        // reported; input is read from the socket from then on
)

// pollErr returns the error that ended the poll request of fd, if the
// kernel refused or ended it with one other than ECANCELED: the socket
// is not watched any more (see complete). nil on epoll.
func (ep *pollset) pollErr(fd int) error {
	u := ep.ur
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if reg := u.reg(fd); reg != nil && reg.pollErrno != 0 {
		return os.NewSyscallError("io_uring poll_add", syscall.Errno(reg.pollErrno))
	}
	return nil
}

// completeAccept keeps a connection the listener's multishot accept
// took, or the error that ended it, for accept; current says that the
// accept is the one armed now, not a retired one. Under mu.
func (u *uringSet) completeAccept(reg *uringReg, c uring.CQE, ev *event, current bool) bool {
	armed := false
	if !c.More() {
		if current {
			reg.pollUD = 0 // armed again by accept once it has handed out the rest
		} else {
			reg.lis.unretire(c.UserData)
			if reg.lis.owed && len(reg.lis.retired) == 0 {
				u.armPoll(reg, u.newUD(reg)) // submitted by the loop's next enter
				armed = true
			}
		}
	}
	switch {
	case c.Res >= 0:
		reg.lis.fds = append(reg.lis.fds, c.Res)
	case c.Res == -int32(unix.ECANCELED):
		if !armed && !current {
			return false
		}
		// The accept just armed waits in the submission queue: the
		// listener is reported so that the loop goes round to its next
		// io_uring_enter. A loop that reaped no event inside a
		// WaitRuntime park would park again with the accept unsubmitted,
		// and every later connection would wait in the backlog.
		//
		// Or the kernel ended the accept armed now (current: a pause
		// retires it before cancelling it), as it ends the requests of
		// a thread that has exited (see complete): the listener is
		// reported, and accept arms it again from the loop.
	default:
		reg.errno = -c.Res
	}
	if reg.signaled {
		return false
	}
	reg.signaled = true
	*ev = event{slot: reg.slot, gen: reg.gen, ready: evIn}
	return true
}

// accept is the poller's accept on the listening socket fd: a connection
// its multishot accept took, with the peer's address (getpeername, one
// call), or the error that ended the accept (the acceptor backs off on
// EMFILE and arms it again with mod); errAgain when there is none yet.
// A listener not served that way is accepted with accept4.
func (ep *pollset) accept(fd int) (int, sockaddr, error) {
	if ep.ur != nil {
		return ep.ur.accept(fd)
	}
	return sysAccept(fd)
}

func (u *uringSet) accept(fd int) (int, sockaddr, error) {
	u.mu.Lock()
	reg := u.reg(fd)
	if reg == nil || reg.lis == nil {
		u.mu.Unlock()
		return sysAccept(fd)
	}
	for len(reg.lis.fds) > 0 {
		nfd := int(reg.lis.fds[0])
		reg.lis.fds = reg.lis.fds[1:]
		if len(reg.lis.fds) == 0 {
			reg.lis.fds = nil
		} else if reg.signaled {
			// The acceptor may stop at its batch before the rest: the
			// next reap reports the listener again.
			reg.signaled = false
			u.again = append(u.again, reg)
		}
		u.mu.Unlock()
		sa, err := sysGetpeername(nfd)
		if err == nil {
			return nfd, sa, nil
		}
		sysClose(nfd) // reset before it was served, as accept4's ECONNABORTED
		u.mu.Lock()
		if u.reg(fd) != reg {
			u.mu.Unlock()
			return -1, sockaddr{}, errAgain
		}
	}
	reg.signaled = false
	if e := reg.errno; e != 0 {
		reg.errno = 0
		u.mu.Unlock()
		return -1, sockaddr{}, syscall.Errno(e)
	}
	if reg.pollUD != 0 || reg.lis.owed || reg.in&evIn == 0 {
		u.mu.Unlock()
		return -1, sockaddr{}, errAgain
	}
	// The accept ended without an error to report (the kernel ended it,
	// or after a back-off): armed again, and what waits meanwhile is
	// taken by accept4.
	u.armPoll(reg, u.newUD(reg))
	u.mu.Unlock()
	return sysAccept(fd)
}

// completeRecv stashes a receive's completion. Under mu.
func (u *uringSet) completeRecv(reg *uringReg, c uring.CQE, ev *event) bool {
	if !c.More() {
		reg.recvUD, reg.cancel = 0, false
	}
	switch {
	case c.Res > 0:
		data, id, ok := u.br.Take(c)
		if !ok {
			return false
		}
		reg.stash = append(reg.stash, uringChunk{id, data})
		if len(reg.stash)-int(reg.head) >= uringMaxStash && reg.recvUD != 0 && !reg.cancel {
			// The connection is not being read (paused at its bound, or
			// slow): leave the rest in the socket, not in the ring. At
			// once: the kernel fills buffers as fast as bytes arrive.
			if u.cancel(reg.recvUD) {
				reg.cancel = true
				u.submitLocked()
			}
		} else if reg.tid != u.tid && u.tid != 0 && reg.recvUD != 0 && !reg.cancel && u.settled() {
			// Tied to a thread that is not the pinned leader's: ended
			// and armed again by the leader (see pinLeader), this
			// cancel riding on its next io_uring_enter.
			if u.cancel(reg.recvUD) {
				reg.cancel, reg.tid = true, uringMoving
				u.moved.Add(1)
			}
		}
		if reg.signaled {
			return false
		}
	case c.Res == 0:
		reg.eof = true
		u.dropBuffer(c)
	case c.Res == -int32(unix.ENOBUFS), c.Res == -int32(unix.ECANCELED):
		// The receive ended; the read goes to the socket (readv).
		if reg.tid != uringMoving {
			u.ended.Add(1)
		}
	default:
		reg.errno = -c.Res
	}
	reg.signaled = true
	ready := uint32(evIn)
	if reg.eof || reg.errno != 0 {
		ready |= evRDHup // read to the end: see Conn.shortDrains
	}
	*ev = event{slot: reg.slot, gen: reg.gen, ready: ready}
	return true
}

// uringMoving in uringReg.tid marks a receive cancelled to be armed again
// on the pinned leader's thread.
const uringMoving = -1

// uringSettleTime is how long a pinned leader must have held the duty
// before receives tied to other threads are moved to it: after a
// hand-off the duty may soon pass again, and each move costs a cancel, a
// readv and a new receive.
const uringSettleTime = 50 * time.Millisecond

// settled reports whether the pinned leader has held the duty for
// uringSettleTime. Under mu.
func (u *uringSet) settled() bool {
	return nowNs()-u.tidSince >= int64(uringSettleTime)
}

// pinLeader locks the calling goroutine, which takes the poller's duty,
// to its thread until unpinLeader, and reports whether it did (only
// under this backend, unless uringLockEnv turns it off). A completion's
// task work (a multishot receive's, every time input arrives) runs on
// the thread that submitted the request. On a leader that moves between
// threads the receives end up tied to threads that are asleep in futex
// or running other goroutines: each is woken to run its share, and
// contends with the leader's io_uring_enter for the ring's lock. Pinned,
// the leader's thread submits the receives and runs their task work
// itself, at its next system call; a receive tied to another thread (a
// leader before a hand-off, or a submission by another goroutine) is
// moved to it on a completion (see completeRecv).
//
// Not in accept mode (noPin): there the leader only reaps and fills, the
// connections' goroutines read and write, and at a few connections the
// leader parks after almost every pass; a locked goroutine's park and
// wake-up is a sleep and a futex wake-up of its own thread
// (stoplockedm), which cost net/http on the adapter a quarter of its
// requests/s at 10 connections (docs/uring.md).
func (ep *pollset) pinLeader() bool {
	u := ep.ur
	if u == nil || !u.lockOn {
		return false
	}
	runtime.LockOSThread()
	tid := int32(unix.Gettid())
	u.mu.Lock()
	u.tid, u.tidSince = tid, nowNs()
	if u.single && !u.enabled {
		// This thread becomes the ring's issuer. A failure leaves the
		// ring refusing every submission: the loop's first wait fails
		// and the poller stops, as on a broken epoll instance.
		u.r.Enable()
		u.enabled = true
	}
	u.mu.Unlock()
	return true
}

// noPin keeps the leaders of this pollset unpinned (see pinLeader).
// Called before the poller starts.
//
// A single-issuer ring's leader is pinned all the same: only its
// thread can use the ring. It waits in io_uring_enter (WaitBlock) rather
// than parking in the runtime; the yield before each blocking wait
// passes its thread on and back (stoplockedm), as for any pinned leader
// under WaitBlock.
func (ep *pollset) noPin() {
	if ep.ur != nil && !ep.ur.single {
		ep.ur.lockOn = false
	}
}

// loopDone runs on the leader when the loop has ended, before the
// poller reports it done. A single-issuer ring is closed there: its
// buffer group can be unregistered only by the issuer, and its buffers
// must not be unmapped while it is registered.
func (ep *pollset) loopDone() {
	u := ep.ur
	if u == nil || !u.single {
		return
	}
	u.mu.Lock()
	mine := u.onIssuer()
	u.mu.Unlock()
	if mine {
		u.close()
	}
}

// unpinLeader ends pinLeader, when the duty has been passed on or the
// loop ends.
func (ep *pollset) unpinLeader() {
	u := ep.ur
	tid := int32(unix.Gettid())
	u.mu.Lock()
	if u.tid == tid {
		u.tid = 0
	}
	u.mu.Unlock()
	runtime.UnlockOSThread()
}

// releaseForPark unlocks a pinned leader from its thread for a park in
// the runtime that WaitAdaptive chose while goroutines other than
// pollers were running, and reports whether it did: only under
// uringReleaseEnv, and not on a single-issuer ring, whose thread alone
// may enter it. A locked goroutine parks by handing its P to another
// thread and putting its own to sleep, and is woken by the reverse
// (stoplockedm, startlockedm): beside busy goroutines that is every
// pass, and the process spent more of its CPU there than anywhere else
// but the kernel (docs/scaling.md). After the park the leader pins
// itself again (pinLeader) to whichever thread runs it. That restarts
// its settling time even on the thread it had: it parks after nearly
// every pass, and moving the receives armed elsewhere to it
// (completeRecv) between two parks would cost a cancel, a readv and a
// new receive each, to no end (a variant that kept the time across
// parks on one thread served fewer messages, docs/scaling.md).
func (ep *pollset) releaseForPark() bool {
	u := ep.ur
	if u == nil || !u.releaseOn || u.single {
		return false
	}
	ep.unpinLeader()
	return true
}

// uringSendingMax bounds the output bytes of a poller's ring sends in
// flight; output that would pass it is written with writev at once, as
// on epoll. A ring send holds its bytes until the loop's next
// io_uring_enter and its completion, where writev hands them to the
// kernel at once: without a bound, a pass's bulk answers to a thousand
// connections held the memory budget full of nodes (each rounded up to
// its size class) that epoll frees the moment it writes them, and the
// process's RSS grew several times Go's own echo's (docs/RELIABILITY.md,
// the eleventh round). Small answers,
// where the system call a ring send saves weighs most, stay far below
// it even at thousands of connections.
const uringSendingMax = 256 << 10

// sendsOnRing reports whether a Flush of a batch of n bytes, with
// nothing queued before it, would go out as a ring send now
// (ringSendable, without the ring's lock; the bound on the bytes in
// flight is looked at under it, by send): then the Flush leaves its
// batch to writeOut rather than writing it itself, which would cost
// the system call the ring saves. Otherwise writeOut would use writev,
// and the Flush writes its batch directly.
func (ep *pollset) sendsOnRing(c *Conn, n int) bool {
	return n <= uringSendingMax && ep.ringSendable(c)
}

// ringSend queues a send of the head of c's outbound buffer in the ring
// and reports whether it did (see uringSend); false: the caller writes
// with writev. The caller holds emu and a reference, and c has no send
// in flight.
func (ep *pollset) ringSend(c *Conn) bool {
	return ep.ringSendable(c) && ep.ur.send(c)
}

// ringSendable reports whether c's output may go out as a ring send:
// sends are on, and c runs edge-triggered under DispatchHandoff (level-
// triggered and one-shot would be told of room, POLLOUT, on every wait
// while the send is in flight), inside its handler on the leader
// (otherwise nothing says the loop's next enter comes soon).
func (ep *pollset) ringSendable(c *Conn) bool {
	u := ep.ur
	if u == nil || !u.sendOn {
		return false
	}
	p := c.p
	return p.cfg.Dispatch == DispatchHandoff && c.owner.cfg.Trigger == EdgeTriggered && p.runsHandlerOf(c)
}

// send submits c's queued output as a ring send, once ringSendable
// said it may. The leader is looked at again under mu: a leader that
// took the duty over flushes the queued requests under mu before it
// waits, so either it sees this request or the second look sees the
// duty gone (then writev).
func (u *uringSet) send(c *Conn) bool {
	p := c.p
	u.mu.Lock()
	defer u.mu.Unlock()
	if !p.runsHandlerOf(c) {
		return false
	}
	var arr [maxVecs][]byte
	vecs := c.out.GetBytes(arr[:0])
	n := vecsLen(vecs)
	if n == 0 || u.sending+n > uringSendingMax || !c.incref() {
		return false
	}
	sqe := u.r.SQE()
	if u.closed || sqe == nil {
		// A full queue: writev now rather than a submission here.
		c.decref() // the caller's reference is still held
		return false
	}
	if h := testHookRingSend.Load(); h != nil {
		// A copy: vecs itself passed to a function value would move
		// arr to the heap, an allocation of 384 bytes on every send.
		(*h)(slices.Clone(vecs), u.sending)
	}
	st := u.newSend(c)
	st.n = n
	u.sending += n
	fd := int(c.fd)
	ud := sendUD(fd)
	if len(vecs) == 1 {
		sqe.PrepSend(fd, vecs[0], unix.MSG_NOSIGNAL, ud)
	} else {
		for i, v := range vecs {
			st.iov[i].Base = &v[0]
			st.iov[i].SetLen(len(v))
		}
		sqe.PrepWritev(fd, st.iov[:len(vecs)], ud)
	}
	if fd >= len(u.sends) {
		u.sends = append(u.sends, make([]*uringSend, fd+1-len(u.sends))...)
	}
	u.sends[fd] = st
	c.flags.Or(fSending)
	return true
}

// testHookRingSend, when set by a test, sees the vectors of each ring
// send and the bytes of the sends already in flight. It runs under mu;
// an atomic pointer, so that a test may set or clear it while a ring
// sends.
var testHookRingSend atomic.Pointer[func(vecs [][]byte, sending int)]

// newSend returns a spare uringSend for c. Under mu.
func (u *uringSet) newSend(c *Conn) *uringSend {
	var st *uringSend
	if n := len(u.spare); n > 0 {
		st = u.spare[n-1]
		u.spare[n-1] = nil
		u.spare = u.spare[:n-1]
	} else {
		st = new(uringSend)
	}
	st.c = c
	return st
}

// completeSend records a send's completion for settle. Under mu.
func (u *uringSet) completeSend(c uring.CQE) {
	fd := int(c.UserData >> 32)
	if fd >= len(u.sends) || u.sends[fd] == nil {
		return
	}
	st := u.sends[fd]
	u.sends[fd] = nil
	u.sending -= st.n
	st.res = c.Res
	u.sent = append(u.sent, st)
}

// settle ends a completed send of st.c: the bytes sent leave the
// outbound buffer, the rest is written with writev (or waits for room),
// an error breaks the connection, a lingering close finishes when
// nothing is left, and the send's reference is dropped. Runs without
// mu, on the goroutine that reaped.
func (u *uringSet) settle(st *uringSend) {
	c, res := st.c, st.res
	ctr := &c.p.ctr
	var err error
	c.emu.Lock()
	c.flags.And(^uint32(fSending))
	switch {
	case res > 0:
		c.out.Skip(int(res))
		c.out.Release()
		ctr.bytesOut.Add(uint64(res))
		c.touch()
	case res == 0, res == -int32(unix.EAGAIN), res == -int32(unix.EINTR), res == -int32(unix.ECANCELED):
		// Nothing sent: cancelled by a close, or to be tried again.
	default:
		err = os.NewSyscallError("writev", syscall.Errno(-res))
	}
	if err == nil && c.out.Len() > 0 && c.flags.Load()&fRegistered != 0 {
		_, err = c.writeOut()
	}
	shut := err != nil && c.peerReadShut(err)
	if shut {
		c.dropOut()
	}
	c.unlockEmu()
	if err != nil && !shut {
		c.broke(err)
	}
	notify(&c.wwait)
	c.drained(c.accountOut())
	c.outSent()
	c.decref()
	st.c = nil
	u.mu.Lock()
	u.spare = append(u.spare, st)
	u.mu.Unlock()
}

// readv is the poller's read of fd into vecs: from the stash of its
// receive when it has one, else from the socket; calls counts read
// system calls. An edge-triggered registration switches to a receive
// after its first read.
func (ep *pollset) readv(fd int, vecs [][]byte, calls *atomic.Uint64) (int, error) {
	if ep.ur != nil {
		return ep.ur.readv(fd, vecs, calls)
	}
	calls.Add(1)
	return sysReadv(fd, vecs)
}

func (u *uringSet) readv(fd int, vecs [][]byte, calls *atomic.Uint64) (int, error) {
	u.mu.Lock()
	reg := u.reg(fd)
	if reg != nil && reg.recvMode {
		if n, err, done := u.readStash(reg, vecs); done {
			u.mu.Unlock()
			return n, err
		}
	}
	edge := reg != nil && reg.in&evET != 0
	u.mu.Unlock()
	calls.Add(1)
	n, err := sysReadv(fd, vecs)
	size := vecsLen(vecs)
	if edge && err == nil && n > 0 && n < size && sockAtMark(fd) {
		// Stopped at an urgent mark: see readPastMark.
		n = readPastMark(fd, vecs, n, calls)
	}
	if !edge || err != nil && err != errAgain || err == nil && n == 0 {
		return n, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || u.reg(fd) != reg || reg.recvUD != 0 || reg.cancel {
		return n, err
	}
	if !reg.recvMode {
		// The first read: input comes by the receive from now on; what
		// the socket still holds is the receive's first completion.
		reg.recvMode = true
		u.removePoll(reg)
		u.armPoll(reg, u.newUD(reg))
		u.armRecv(reg, err == errAgain || n < size)
		return n, err
	}
	// The receive had ended: read the socket until it is drained (a
	// full read is followed by another), then arm the receive again.
	// Not after the peer's end on a socket whose receive may not see it
	// (peerEnded): the reads go on to the end, which they see. A read
	// that stops short there (AF_UNIX stops after a message carrying
	// descriptors) would arm it with the rest and the end waiting: the
	// receive takes the rest and waits, and the end, whose wake-up has
	// passed, never comes.
	if err == errAgain || n < size && reg.hup != hupRead {
		u.armRecv(reg, true)
	}
	return n, err
}

// inputQueued reports whether input for fd waits that the poller has
// not read yet: in the socket, on epoll; under BackendUring also in
// completions of its receive not yet reaped, or in its stash. A system
// call: for Shutdown's look (Conn.inputQueued), not for the data path.
func (ep *pollset) inputQueued(fd int) bool {
	if ep.ur != nil {
		return ep.ur.inputQueued(fd)
	}
	return sysInputQueued(fd)
}

// inputQueued looks where input moves through, in its order: the
// socket, the receive's completions, the stash. The last two under mu,
// where no reap moves input between them, so that input a receive takes
// from the socket after the socket's look is seen in the ring.
func (u *uringSet) inputQueued(fd int) bool {
	if sysInputQueued(fd) {
		return true
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	reg := u.reg(fd)
	if u.closed || reg == nil {
		return false
	}
	if reg.recvUD != 0 && u.r.Overflowed() {
		return true // completions wait in the kernel, where no look reaches
	}
	return u.heldLocked(reg)
}

// heldInput reports whether input of fd that its receive took from the
// socket waits unread: in completions not yet reaped (not in the
// kernel's overflow list, where no look reaches) or in the stash. For
// a Close of a connection without a handler (Conn.deregister): on
// epoll such input is still the socket's, and close(2) resets the
// connection as Go's Close does. false on epoll.
func (ep *pollset) heldInput(fd int) bool {
	u := ep.ur
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	reg := u.reg(fd)
	return !u.closed && reg != nil && u.heldLocked(reg)
}

// heldLocked is heldInput's look at reg. Under mu, where no reap moves
// input from the completions to the stash.
func (u *uringSet) heldLocked(reg *uringReg) bool {
	if ud := reg.recvUD; ud != 0 && u.r.Peek(func(c uring.CQE) bool { return c.UserData == ud && c.Res > 0 }) {
		return true
	}
	return int(reg.head) < len(reg.stash)
}

// readStash copies stashed input into vecs and gives back the pieces it
// emptied. done is false when the receive has ended and the socket must
// be read. Under mu.
func (u *uringSet) readStash(reg *uringReg, vecs [][]byte) (n int, err error, done bool) {
	vi, off := 0, 0
	for int(reg.head) < len(reg.stash) && vi < len(vecs) {
		ch := &reg.stash[reg.head]
		k := copy(vecs[vi][off:], ch.data)
		n += k
		off += k
		ch.data = ch.data[k:]
		if len(ch.data) == 0 {
			u.br.Recycle(ch.id)
			reg.stash[reg.head] = uringChunk{}
			reg.head++
		}
		if off == len(vecs[vi]) {
			vi, off = vi+1, 0
		}
	}
	return u.stashRead(reg, n)
}

// stashRead ends a read of reg's stash that took n bytes (readStash,
// fillIn): an emptied stash is reset, and the result says what a reader
// sees. done is false when nothing was taken and the receive has ended:
// the socket must be read. Under mu.
//
// A read that empties the stash of a receive that has ended (ENOBUFS, or
// ended by the kernel with data when the completion queue was full) arms
// the receive again, with the loop's next io_uring_enter: the socket may
// hold more input, no event would announce it, and the read just taken
// is short, which fill takes for a drained socket. The new receive
// completes at once with what the socket holds.
func (u *uringSet) stashRead(reg *uringReg, n int) (int, error, bool) {
	if int(reg.head) == len(reg.stash) {
		reg.stash, reg.head = reg.stash[:0], 0
		reg.signaled = false
		if n > 0 && reg.recvUD == 0 && !reg.cancel && !reg.eof && reg.errno == 0 && !u.closed && reg.hup != hupRead {
			u.armRecv(reg, false) // the socket may hold more
		}
	}
	switch {
	case n > 0:
		return n, nil, true
	case reg.eof:
		return 0, nil, true
	case reg.errno != 0:
		return -1, syscall.Errno(reg.errno), true
	case reg.recvUD != 0 || reg.cancel:
		return -1, errAgain, true
	}
	return 0, nil, false
}

// readPastMark goes on with a read from fd into vecs that took n bytes
// and stopped short at an urgent mark: it reads into the rest of vecs
// until they are full, or the socket is drained and not at a mark, and
// returns the bytes read in all. An EOF or an error it meets is left for
// the next read.
//
// The receive armed after an edge-triggered read must not start at a
// mark. TCP stops a read at the mark that MSG_OOB data sets in the
// stream, and the read that starts there skips the out-of-band byte,
// unless a signal is pending for the reading task: then it fails with
// EAGAIN (tcp_recvmsg), and io_uring's task work notification counts as
// one. A multishot receive that fails so waits for the next wake-up of
// the socket, and if no more input comes, the bytes behind the mark stay
// in the socket while the connection waits for them (a stall of
// TestShortReadUrgentData/edge under load: docs/RELIABILITY.md). A read
// from the poller's goroutine can fail so too, but each
// return from a system call runs the thread's pending task work, so it
// passes the mark on one of the next few tries (uringMarkTries).
//
// A receive that meets a mark with nothing before it (the out-of-band
// byte arrived after the read before it) can still stop there until
// more input comes: nothing reports the mark to upoll without a poll for
// urgent data, which every arrival of data would wake.
func readPastMark(fd int, vecs [][]byte, n int, calls *atomic.Uint64) int {
	for range uringMarkTries {
		i, off := 0, n
		for i < len(vecs) && off >= len(vecs[i]) {
			off -= len(vecs[i])
			i++
		}
		if i == len(vecs) {
			break // full
		}
		head := vecs[i]
		vecs[i] = head[off:]
		calls.Add(1)
		m, err := sysReadv(fd, vecs[i:])
		vecs[i] = head
		if m > 0 {
			n += m
		} else if err != errAgain {
			break // the next read sees the EOF or the error
		}
		if !sockAtMark(fd) {
			break
		}
	}
	return n
}

// sockAtMark reports whether fd's next byte is at an urgent mark
// (SIOCATMARK); false when it cannot tell.
func sockAtMark(fd int) bool {
	v, err := unix.IoctlGetInt(fd, unix.SIOCATMARK)
	return err == nil && v != 0
}

// sockSeesEnd reports whether a multishot receive on fd reports the
// peer's end (a completion of 0 bytes) by itself, whenever it comes.
//
// After a completion with data the kernel receives again at once only
// while the socket says it holds more (msg_inq; IORING_CQE_F_SOCK_NONEMPTY)
// or cannot say; otherwise the request waits for the socket's next
// wake-up. TCP counts a FIN received in that figure (tcp_inq_hint), so
// its receive goes on to the end. AF_UNIX stream sockets give the figure
// since Linux 6.17 (SO_INQ) and count only the bytes queued: a receive
// that finds the peer's last data and its end (close or SHUT_WR)
// already there when it runs (armed with IORING_RECVSEND_POLL_FIRST
// after both came, the kernel tries it once and it reads the data)
// takes the data, sees nothing left and waits for a wake-up that has
// passed. The reader waited for the end until its deadline
// (docs/RELIABILITY.md; TestUringUnixEOFAfterData). The poll request
// for POLLOUT reports the end all the same (io_uring polls for hang-ups
// whether asked or not), where peerEnded asks this, once per
// registration: true for AF_INET and AF_INET6 (TCP, the only stream
// sockets there), false otherwise, or when the family cannot be told.
func sockSeesEnd(fd int) bool {
	d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	return err == nil && (d == unix.AF_INET || d == unix.AF_INET6)
}

// uringMarkTries bounds readPastMark's reads.
const uringMarkTries = 64

func vecsLen(vecs [][]byte) int {
	n := 0
	for _, v := range vecs {
		n += len(v)
	}
	return n
}

// waitRuntime parks in the Go runtime until completions wait or the
// deadline passes (zero: none). The callback looks at the completion
// queue (no system call unless the loop queued requests) and parks only
// when it found nothing; a completion posted after that raises a new
// edge on the ring's descriptor.
func (u *uringSet) waitRuntime(events []event, deadline time.Time) (n int, parked bool, err error) {
	return u.parkGated(events, deadline)
}

// wake makes a blocked wait return; safe from any goroutine.
func (u *uringSet) wake() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	u.poke()
}

// drainWake resets the eventfd after its completion was seen.
func (u *uringSet) drainWake() {
	var b [8]byte
	for {
		if _, err := unix.Read(u.efd, b[:]); err != unix.EINTR {
			return
		}
	}
}

// close releases the ring, its buffers and the eventfd; the kernel
// cancels the requests in flight.
func (u *uringSet) close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.endSends()
	for k := u.r.Reap(u.cqes); k > 0; k = u.r.Reap(u.cqes) {
		for _, c := range u.cqes[:k] {
			u.dropCQE(c) // accepted connections nobody will serve
		}
	}
	done := u.sent
	u.sent = nil
	u.closed = true
	err := u.release()
	u.closeErr = err
	u.mu.Unlock()
	for _, st := range done {
		u.settle(st)
	}
	return err
}

// dropCQE disposes of a completion reaped while closing: a send's is
// recorded for settle, a connection accepted is closed, a buffer goes
// back. Under mu.
func (u *uringSet) dropCQE(c uring.CQE) {
	switch {
	case c.UserData&3 == udSend: // descriptor 0's too: its user data is udSend itself
		u.completeSend(c)
	case c.UserData&udAccept != 0 && c.UserData&3 == 0 && c.Res >= 0:
		sysClose(int(c.Res))
	default:
		u.dropBuffer(c)
	}
}

// dropBuffer gives back the buffer c consumed, if any, whose bytes
// nobody will read. Taken first: an incremental group's next piece is
// placed after it. Under mu.
func (u *uringSet) dropBuffer(c uring.CQE) {
	if _, id, ok := u.br.Take(c); ok {
		u.br.Recycle(id)
	}
}

// uringSendDrain bounds how long close waits for the completions of the
// sends it cancelled.
const uringSendDrain = 5 * time.Second

// endSends cancels the sends still in flight and waits for their
// completions, so that no buffer the kernel may still read is freed
// once the ring is gone; settling them is the caller's (close). A send
// whose completion does not come within uringSendDrain keeps its
// connection's reference: that connection and its buffers are never
// freed, rather than freed under the kernel. Under mu.
func (u *uringSet) endSends() {
	inFlight := 0
	for fd, st := range u.sends {
		if st == nil {
			continue
		}
		inFlight++
		if s, err := u.sqe(); err == nil {
			s.PrepCancel(sendUD(fd), 0, udInternal)
		}
	}
	if inFlight == 0 {
		return
	}
	deadline := time.Now().Add(uringSendDrain)
	for inFlight > len(u.sent) && time.Now().Before(deadline) {
		if _, err := u.r.SubmitAndWait(1, 50*time.Millisecond); err != nil {
			return
		}
		for {
			k := u.r.Reap(u.cqes)
			if k == 0 {
				break
			}
			for _, c := range u.cqes[:k] {
				u.dropCQE(c)
			}
		}
	}
}

func (u *uringSet) release() error {
	for _, reg := range u.regs {
		if reg != nil {
			u.forget(reg)
		}
	}
	var err error
	if u.file != nil {
		err = u.file.Close()
	}
	// The buffer group is unregistered first: no receive picks a
	// buffer after that, so its memory can go before the ring does.
	if u.br != nil {
		if e := u.br.Close(); err == nil {
			err = e
		}
	}
	if e := u.r.Close(); err == nil {
		err = e
	}
	if u.efd >= 0 {
		if e := sysClose(u.efd); err == nil {
			err = e
		}
	}
	return err
}

// ringStats adds the ring's counters to s. Waits is every
// io_uring_enter of the ring, as PollerStats says: the loop's, and those
// that registrations, closes and a full queue make off the loop, which
// a count kept by the loop missed.
func (ep *pollset) ringStats(s *PollerStats) {
	if ep.ur == nil {
		return
	}
	ctr := ep.ur.r.Counters()
	s.Waits = ctr.Enters.Load()
	s.Submissions = ctr.Submitted.Load()
	s.Completions = ctr.Completed.Load()
	s.Enters = ctr.Enters.Load()
	s.BuffersInUse = int64(ep.ur.br.InUse())
}
