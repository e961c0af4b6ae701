package netpoll

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxVecs bounds the iovecs of one readv/writev. unix.Readv and
// unix.Writev keep up to 8 iovecs on the stack, so staying at 8 keeps the
// data path free of allocations; IOV_MAX (1024) is far above it.
const maxVecs = 8

// The functions below are the only places that issue socket I/O
// syscalls. Each loops on EINTR (Go delivers SIGURG for preemption, and
// a signal can interrupt any of them) and returns the raw errno so that
// callers can tell EAGAIN from a real error; callers wrap real errors
// with os.NewSyscallError or net.OpError.
//
// write, readv and writev go through RawSyscall: on a nonblocking socket they
// never wait, so the runtime's syscall bookkeeping (entersyscall and
// exitsyscall, which let another thread take the P of a syscall that
// blocks) buys nothing there and is a measurable share of a small
// message's cost. A call that does not block cannot starve the
// goroutines of its P for longer than the kernel's copy takes.

// iovecs fills iov from vecs (skipping empty ones) and returns how
// many it used.
func iovecs(iov *[maxVecs]unix.Iovec, vecs [][]byte) int {
	n := 0
	for _, v := range vecs {
		if len(v) == 0 {
			continue
		}
		if n == maxVecs {
			break
		}
		iov[n].Base = &v[0]
		iov[n].SetLen(len(v))
		n++
	}
	return n
}

func sysReadv(fd int, vecs [][]byte) (int, error) {
	var iov [maxVecs]unix.Iovec
	n := iovecs(&iov, vecs)
	if n == 0 {
		return -1, unix.EINVAL // never 0: that would read as EOF
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
		if e == 0 {
			return int(r), nil
		}
		if e != unix.EINTR {
			return -1, e
		}
	}
}

func sysWritev(fd int, vecs [][]byte) (int, error) {
	var iov [maxVecs]unix.Iovec
	n := iovecs(&iov, vecs)
	if n == 0 {
		return 0, nil
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
		if e == 0 {
			return int(r), nil
		}
		if e != unix.EINTR {
			return -1, e
		}
	}
}

func sysWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == 0 {
			return int(r), nil
		}
		if e != unix.EINTR {
			return -1, e
		}
	}
}

// sysAccept accepts one connection as a nonblocking, close-on-exec
// socket. ECONNABORTED (the peer gave up while queued) is retried like
// EINTR: it concerns that one connection only.
func sysAccept(fd int) (int, unix.Sockaddr, error) {
	for {
		nfd, sa, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		return nfd, sa, err
	}
}

func sysSocket(family, typ int) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

// sysConnect starts a nonblocking connect. EINPROGRESS means the
// handshake goes on and completion is reported by EPOLLOUT; EINTR on a
// nonblocking connect also lets it continue asynchronously (connect(2)),
// so both are reported as "in progress".
func sysConnect(fd int, sa unix.Sockaddr) (inProgress bool, err error) {
	switch err := unix.Connect(fd, sa); err {
	case nil:
		return false, nil
	case unix.EINPROGRESS, unix.EINTR, unix.EALREADY:
		return true, nil
	default:
		return false, err
	}
}

func sysSocketError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return os.NewSyscallError("getsockopt", err)
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

func sysShutdown(fd, how int) error {
	if err := unix.Shutdown(fd, how); err != nil {
		return os.NewSyscallError("shutdown", err)
	}
	return nil
}

// sysClose closes fd. EINTR is not retried: on Linux the descriptor is
// released even when close reports EINTR, and a retry could close an fd
// number that another goroutine has just been given.
func sysClose(fd int) error {
	if err := unix.Close(fd); err != nil && err != unix.EINTR {
		return os.NewSyscallError("close", err)
	}
	return nil
}

func sysDup(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}

func sysGetsockname(fd int) (unix.Sockaddr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, os.NewSyscallError("getsockname", err)
	}
	return sa, nil
}

func sysGetpeername(fd int) (unix.Sockaddr, error) {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return nil, os.NewSyscallError("getpeername", err)
	}
	return sa, nil
}

// isResourceErr reports the accept errors after which the listener
// keeps working once resources are freed.
func isResourceErr(err error) bool {
	return err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM
}
