package netpoll

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The functions below are the only places that issue socket I/O
// syscalls. Each loops on EINTR (Go delivers SIGURG for preemption, and
// a signal can interrupt any of them) and returns the raw errno so that
// callers can tell EAGAIN from a real error; callers wrap real errors
// with os.NewSyscallError or net.OpError.
//
// read, write, readv and writev go through RawSyscall: on a nonblocking socket they
// never wait, so the runtime's syscall bookkeeping (entersyscall and
// exitsyscall, which let another thread take the P of a syscall that
// blocks) buys nothing there and is a measurable share of a small
// message's cost. A call that does not block cannot starve the
// goroutines of its P for longer than the kernel's copy takes.

// sysInputQueued reports whether fd's receive queue holds bytes that
// no read has taken yet (SIOCINQ: on TCP the data only, a FIN received
// is not counted; on AF_UNIX the bytes queued); false when it cannot
// tell.
func sysInputQueued(fd int) bool {
	n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
	return err == nil && n > 0
}

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
	if n == 1 {
		return sysRead(fd, unsafe.Slice(iov[0].Base, iov[0].Len))
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
	if n == 1 {
		return sysWrite(fd, unsafe.Slice(iov[0].Base, iov[0].Len))
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

// sysRead and sysWrite are read(2) and write(2), retried on EINTR.
// sysReadv and sysWritev use them for a single vector: the kernel then
// has no iovec array to copy in and check, which is a measurable part of
// a small message's system time. sysRead needs a non-empty p (an empty
// read would return 0, which reads as EOF).
func sysRead(fd int, p []byte) (int, error) {
	for {
		r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
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
func sysAccept(fd int) (int, sockaddr, error) {
	for {
		nfd, sa, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		return nfd, fromUnix(sa), err
	}
}

// acceptCall names the accept system call in errors, as Go's net does.
const acceptCall = "accept4"

// isConnAcceptErr reports the accept errors that concern the connection
// being accepted, not the listener: accept(2) asks that they be treated
// like EAGAIN (the connection is dropped from the queue; accept again).
// EPERM is a firewall rule refusing that connection.
func isConnAcceptErr(e unix.Errno) bool {
	switch e {
	case unix.ECONNABORTED, unix.EINTR, unix.EPERM, unix.EPROTO, unix.ENOPROTOOPT,
		unix.ENETDOWN, unix.ENETUNREACH, unix.EHOSTDOWN, unix.EHOSTUNREACH,
		unix.ENONET, unix.EOPNOTSUPP:
		return true
	}
	return false
}

// sysSocket opens a nonblocking, close-on-exec stream socket of the
// neutral family (afInet4, afInet6, afUnix).
func sysSocket(family int) (int, error) {
	fd, err := unix.Socket(unixFamily(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

// sysDupCloexec duplicates fd as a close-on-exec descriptor, in one
// call, as Go's net does: no fork can inherit it in between.
func sysDupCloexec(fd int) (int, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}
