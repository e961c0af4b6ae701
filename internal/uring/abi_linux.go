package uring

import (
	"time"
	"unsafe"
)

// The kernel ABI (include/uapi/linux/io_uring.h), the parts used here.

// Setup flags (io_uring_params.flags).
const (
	SetupSQPoll       = 1 << 1
	SetupCQSize       = 1 << 3
	SetupClamp        = 1 << 4
	SetupRDisabled    = 1 << 6
	SetupSubmitAll    = 1 << 7
	SetupCoopTaskrun  = 1 << 8
	SetupSingleIssuer = 1 << 12
	SetupDeferTaskrun = 1 << 13
)

// Feature bits reported by setup (io_uring_params.features).
const (
	FeatSingleMMap = 1 << 0
	FeatNoDrop     = 1 << 1
	FeatFastPoll   = 1 << 5
	FeatExtArg     = 1 << 8
	FeatMinTimeout = 1 << 15 // min_wait_usec in a wait's EXT_ARG (Linux 6.12)
)

// Opcodes.
const (
	OpNop         = 0
	OpWritev      = 2
	OpPollAdd     = 6
	OpPollRemove  = 7
	OpSendmsg     = 9
	OpAccept      = 13
	OpAsyncCancel = 14
	OpSend        = 26
	OpRecv        = 27
)

// SQE flags.
const (
	SQEBufferSelect = 1 << 5
)

// Operation flags.
const (
	PollAddMulti       = 1 << 0 // poll: multishot
	PollAddLevel       = 1 << 3 // multishot poll: level- rather than edge-triggered
	AcceptMultishot    = 1 << 0 // in ioprio
	RecvMultishot      = 1 << 1 // in ioprio
	CancelAll          = 1 << 0
	CancelFD           = 1 << 1
	CancelAny          = 1 << 2
	CancelUserData     = 1 << 4
	RecvsendPollFirst  = 1 << 0
	getEventsArgSigmsz = 8
)

// CQE flags.
const (
	CQEFBuffer       = 1 << 0 // the upper 16 bits hold a buffer id
	CQEFMore         = 1 << 1 // a multishot operation goes on
	CQEFSockNonempty = 1 << 2
	CQEFBufMore      = 1 << 4 // an incremental buffer stays with the kernel, which goes on filling it
	CQEBufferShift   = 16
)

const (
	enterGetEvents = 1 << 0
	enterSQWakeup  = 1 << 1
	enterSQWait    = 1 << 2
	enterExtArg    = 1 << 3

	sqNeedWakeup = 1 << 0
	sqCQOverflow = 1 << 1

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	registerProbe      = 8
	registerEnable     = 12
	registerPbufRing   = 22
	unregisterPbufRing = 23
	pbufRingInc        = 1 << 1 // IOU_PBUF_RING_INC: buffers consumed incrementally (Linux 6.12+)
	ioUringOpSupported = 1 << 0
	probeOps           = 256
)

// SQE is a submission queue entry (64 bytes).
type SQE struct {
	Opcode      uint8
	Flags       uint8
	Ioprio      uint16
	Fd          int32
	Off         uint64
	Addr        uint64
	Len         uint32
	OpFlags     uint32 // rw_flags, poll32_events, msg_flags, accept_flags, cancel_flags...
	UserData    uint64
	BufIndex    uint16 // or buf_group
	Personality uint16
	SpliceFdIn  int32
	Addr3       uint64
	_           uint64
}

// CQE is a completion queue entry (16 bytes).
type CQE struct {
	UserData uint64
	Res      int32
	Flags    uint32
}

// More reports whether a multishot operation stays armed after c.
func (c CQE) More() bool { return c.Flags&CQEFMore != 0 }

// BufMore reports whether the buffer c consumed stays with the kernel,
// which appends what it receives next after c's bytes (an incremental
// buffer ring).
func (c CQE) BufMore() bool { return c.Flags&CQEFBufMore != 0 }

// BufferID returns the provided buffer c consumed, if any.
func (c CQE) BufferID() (uint16, bool) {
	return uint16(c.Flags >> CQEBufferShift), c.Flags&CQEFBuffer != 0
}

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type getEventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWait   uint32
	ts        uint64
}

// kernelTimespec is __kernel_timespec, which an EXT_ARG's ts points
// to: its fields are 64 bits whatever the process's word size, where
// unix.Timespec's are 32 bits on 386 and arm.
type kernelTimespec struct {
	sec, nsec int64
}

// timespecOf is d (not negative) as a __kernel_timespec.
func timespecOf(d time.Duration) kernelTimespec {
	return kernelTimespec{sec: int64(d / time.Second), nsec: int64(d % time.Second)}
}

type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	minLeft     uint32
	resv        [5]uint32
}

// ringBuf is one entry of a provided-buffer ring (io_uring_buf).
type ringBuf struct {
	addr uint64
	len  uint32
	bid  uint16
	resv uint16 // entry 0's resv is the ring's tail
}

var _ = [1]struct{}{}[unsafe.Sizeof(SQE{})-64]
var _ = [1]struct{}{}[unsafe.Sizeof(CQE{})-16]
var _ = [1]struct{}{}[unsafe.Sizeof(params{})-120]
var _ = [1]struct{}{}[unsafe.Sizeof(getEventsArg{})-24]
var _ = [1]struct{}{}[unsafe.Sizeof(kernelTimespec{})-16]
var _ = [1]struct{}{}[unsafe.Sizeof(bufReg{})-40]
var _ = [1]struct{}{}[unsafe.Sizeof(ringBuf{})-16]
