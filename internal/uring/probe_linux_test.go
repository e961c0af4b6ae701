package uring

import (
	"errors"
	"testing"
	"unsafe"

	"github.com/upoll/upoll/internal/testutil"
	"golang.org/x/sys/unix"
)

// A probe made while the process is out of descriptors reports that
// (EMFILE), not a lack of io_uring, and is not kept: once descriptors
// are free the next Available answers for the kernel. Before, the first
// answer was kept whatever it was, and a moment at the descriptor limit
// turned io_uring off for the life of the process, as "unavailable".
func TestAvailableOutOfDescriptors(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	// Forget the answer, as if no probe had run yet in this process.
	probed.mu.Lock()
	probed.done, probed.err = false, nil
	probed.mu.Unlock()

	var full error
	if err := testutil.WithFDsExhausted(func() { full = Available() }); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(full, unix.EMFILE) || errors.Is(full, ErrUnavailable) {
		t.Fatalf("Available out of descriptors: %v; want EMFILE, not ErrUnavailable", full)
	}
	if err := Available(); err != nil {
		t.Fatalf("Available with descriptors free again: %v (the moment without them was kept)", err)
	}
}

// probeHas reads IORING_REGISTER_PROBE's answer: an opcode past ops_len
// (a kernel older than the opcode, such as Linux 5.19 for SEND_ZC, which
// stands for multishot receive) or without IO_URING_OP_SUPPORTED is not
// there.
func TestProbeHas(t *testing.T) {
	buf := make([]byte, 16+probeOps*8)
	set := func(op uint8) { buf[16+int(op)*8+2] = ioUringOpSupported }
	buf[1] = opSendZC // a 5.19 kernel: ops_len 47, IORING_OP_URING_CMD its last
	set(OpRecv)
	set(opSendZC) // past ops_len: not read
	if !probeHas(buf, OpRecv) || probeHas(buf, OpSend) || probeHas(buf, opSendZC) {
		t.Fatalf("ops_len %d: RECV %v SEND %v SEND_ZC %v; want true, false, false", buf[1], probeHas(buf, OpRecv), probeHas(buf, OpSend), probeHas(buf, opSendZC))
	}
	buf[1] = opSendZC + 2 // Linux 6.0
	if !probeHas(buf, opSendZC) {
		t.Fatal("SEND_ZC within ops_len and supported: not seen")
	}
	if err := Available(); err == nil && !probeHasHere(t) {
		t.Fatal("Available says yes on a kernel whose probe lacks SEND_ZC")
	}
}

// probeHasHere asks this kernel's probe for SEND_ZC.
func probeHasHere(t *testing.T) bool {
	r, err := New(4, 0, 0)
	if err != nil {
		t.Skip(err)
	}
	defer r.Close()
	buf := make([]byte, 16+probeOps*8)
	if err := register(r.fd, registerProbe, unsafe.Pointer(&buf[0]), probeOps); err != nil {
		t.Skip(err)
	}
	return probeHas(buf, opSendZC)
}
