package uring

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// needOps are the operations upoll's backend relies on.
var needOps = []struct {
	op   uint8
	name string
}{
	{OpNop, "NOP"}, {OpPollAdd, "POLL_ADD"}, {OpPollRemove, "POLL_REMOVE"},
	{OpAccept, "ACCEPT"}, {OpAsyncCancel, "ASYNC_CANCEL"}, {OpSend, "SEND"},
	{OpRecv, "RECV"}, {OpWritev, "WRITEV"},
}

// probed holds Available's answer once it is one that cannot change.
var probed struct {
	mu   sync.Mutex
	done bool
	err  error
}

// Available reports nil when io_uring can be used here with what upoll
// needs, else an error that names the cause: wrapping ErrUnavailable, no
// io_uring in the kernel (ENOSYS), a seccomp profile or the sysctl
// kernel.io_uring_disabled (EPERM), or a missing feature or opcode;
// otherwise a resource the probe could not get then (EMFILE, ENFILE,
// ENOMEM, EAGAIN: a *os.SyscallError, not ErrUnavailable). The first
// kind of answer is computed once; the second is not kept, and the next
// call probes again.
func Available() error {
	probed.mu.Lock()
	defer probed.mu.Unlock()
	if probed.done {
		return probed.err
	}
	err := probe()
	if err == nil || errors.Is(err, ErrUnavailable) {
		probed.done, probed.err = true, err
	}
	return err
}

// transient reports whether err is a resource that was short when the
// call was made (descriptors, memory), not a lack of io_uring.
func transient(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EAGAIN)
}

// opSendZC is IORING_OP_SEND_ZC, new in Linux 6.0 with multishot
// receive (see probe).
const opSendZC = 47

// probeHas reports whether the IORING_REGISTER_PROBE answer in buf
// lists op as supported.
func probeHas(buf []byte, op uint8) bool {
	if int(op) >= int(buf[1]) { // ops_len: the last opcode + 1
		return false
	}
	flags := uint16(buf[16+int(op)*8+2]) | uint16(buf[16+int(op)*8+3])<<8
	return flags&ioUringOpSupported != 0
}

func probe() error {
	r, err := New(4, 0, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, f := range []struct {
		bit  uint32
		name string
	}{{FeatNoDrop, "IORING_FEAT_NODROP"}, {FeatFastPoll, "IORING_FEAT_FAST_POLL"}, {FeatExtArg, "IORING_FEAT_EXT_ARG"}} {
		if r.features&f.bit == 0 {
			return fmt.Errorf("%w: the kernel lacks %s", ErrUnavailable, f.name)
		}
	}
	buf := make([]byte, 16+probeOps*8)
	if err := register(r.fd, registerProbe, unsafe.Pointer(&buf[0]), probeOps); err != nil {
		if transient(err) {
			return os.NewSyscallError("io_uring_register", err)
		}
		return fmt.Errorf("%w: IORING_REGISTER_PROBE: %w", ErrUnavailable, err)
	}
	for _, o := range needOps {
		if !probeHas(buf, o.op) {
			return fmt.Errorf("%w: the kernel lacks IORING_OP_%s", ErrUnavailable, o.name)
		}
	}
	// Multishot receive (IORING_RECV_MULTISHOT) came with Linux 6.0, and
	// Linux 5.19 takes every other request upoll makes: its receives
	// would all fail with EINVAL. The probe lists opcodes, not flags, so
	// the opcode that came in the same release stands for it.
	if !probeHas(buf, opSendZC) {
		return fmt.Errorf("%w: the kernel lacks multishot receive (IORING_RECV_MULTISHOT, Linux 6.0+)", ErrUnavailable)
	}
	b, err := r.NewBufRing(0, 1, 64)
	if err != nil {
		if transient(err) {
			return err
		}
		return fmt.Errorf("%w: IORING_REGISTER_PBUF_RING (Linux 5.19+): %w", ErrUnavailable, err)
	}
	return b.Close()
}
