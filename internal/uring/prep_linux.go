package uring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Preparation of SQEs for the operations upoll uses. Every helper fills
// an SQE returned by Ring.SQE; ud comes back in the completion's
// UserData.

// PrepNop prepares an operation that does nothing but complete.
func (s *SQE) PrepNop(ud uint64) {
	s.Opcode, s.Fd, s.UserData = OpNop, -1, ud
}

// PrepPollAdd watches fd for events (poll bits: POLLIN, POLLOUT,
// POLLRDHUP...). multi keeps it armed after each completion (edge-
// triggered unless level); otherwise it completes once.
func (s *SQE) PrepPollAdd(fd int, events uint32, multi, level bool, ud uint64) {
	s.Opcode, s.Fd, s.OpFlags, s.UserData = OpPollAdd, int32(fd), events, ud
	if multi {
		s.Len = PollAddMulti
		if level {
			s.Len |= PollAddLevel
		}
	}
}

// PrepPollRemove removes the poll request whose user data is target.
func (s *SQE) PrepPollRemove(target, ud uint64) {
	s.Opcode, s.Fd, s.Addr, s.UserData = OpPollRemove, -1, target, ud
}

// PrepAcceptMultishot accepts every connection on the listening socket
// fd, one completion each (res: the new descriptor), with accept4's
// flags (SOCK_NONBLOCK, SOCK_CLOEXEC).
func (s *SQE) PrepAcceptMultishot(fd int, flags uint32, ud uint64) {
	s.Opcode, s.Fd, s.OpFlags, s.UserData = OpAccept, int32(fd), flags, ud
	s.Ioprio = AcceptMultishot
}

// PrepRecvMultishot receives on fd into buffers of group bgid, one
// completion per buffer filled, until an error, EOF, the group runs dry
// (ENOBUFS) or a cancel.
func (s *SQE) PrepRecvMultishot(fd int, bgid uint16, ud uint64) {
	s.Opcode, s.Fd, s.UserData = OpRecv, int32(fd), ud
	s.Ioprio = RecvMultishot
	s.Flags |= SQEBufferSelect
	s.BufIndex = bgid
}

// PrepRecv receives once into b, which must stay referenced until the
// completion.
func (s *SQE) PrepRecv(fd int, b []byte, flags uint32, ud uint64) {
	s.Opcode, s.Fd, s.OpFlags, s.UserData = OpRecv, int32(fd), flags, ud
	if len(b) > 0 {
		s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b))
	}
}

// PrepSend sends b, which must stay referenced until the completion.
func (s *SQE) PrepSend(fd int, b []byte, flags uint32, ud uint64) {
	s.Opcode, s.Fd, s.OpFlags, s.UserData = OpSend, int32(fd), flags, ud
	if len(b) > 0 {
		s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(&b[0]))), uint32(len(b))
	}
}

// PrepWritev writes the buffers iov points to; iov and the buffers must
// stay referenced until the completion.
func (s *SQE) PrepWritev(fd int, iov []unix.Iovec, ud uint64) {
	s.Opcode, s.Fd, s.UserData = OpWritev, int32(fd), ud
	if len(iov) > 0 {
		s.Addr, s.Len = uint64(uintptr(unsafe.Pointer(&iov[0]))), uint32(len(iov))
	}
}

// PrepCancel cancels the request whose user data is target; with
// CancelAll in flags, every such request.
func (s *SQE) PrepCancel(target uint64, flags uint32, ud uint64) {
	s.Opcode, s.Fd, s.Addr, s.OpFlags, s.UserData = OpAsyncCancel, -1, target, flags, ud
}

// PrepCancelFD cancels every request on descriptor fd.
func (s *SQE) PrepCancelFD(fd int, ud uint64) {
	s.Opcode, s.Fd, s.OpFlags, s.UserData = OpAsyncCancel, int32(fd), CancelFD|CancelAll, ud
}
