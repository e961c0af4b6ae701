//go:build unix && !linux

package netpoll

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The I/O, accept and socket calls of the Unix systems other than
// Linux, in their portable form: one buffer per read and write (no
// readv), and close-on-exec and nonblocking set after the fact under
// syscall.ForkLock, as Go's net does where accept4 and SOCK_NONBLOCK
// are missing. No native backend serves these systems yet (backend.go);
// a kqueue backend would use these calls as they are.

// fionread is FIONREAD, _IOR('f', 127, int), which the BSDs, Darwin,
// Solaris and AIX number alike (golang.org/x/sys/unix does not name it).
const fionread = 0x4004667f

// sysInputQueued reports whether fd's receive queue holds bytes that
// no read has taken yet (FIONREAD); false when it cannot tell.
func sysInputQueued(fd int) bool {
	n, err := unix.IoctlGetInt(fd, fionread)
	return err == nil && n > 0
}

func sysReadv(fd int, vecs [][]byte) (int, error) {
	for _, v := range vecs {
		if len(v) == 0 {
			continue
		}
		for {
			n, err := unix.Read(fd, v)
			if err != unix.EINTR {
				return n, err
			}
		}
	}
	return -1, unix.EINVAL // never 0: that would read as EOF
}

func sysWritev(fd int, vecs [][]byte) (int, error) {
	for _, v := range vecs {
		if len(v) > 0 {
			return sysWrite(fd, v)
		}
	}
	return 0, nil
}

func sysWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Write(fd, p)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// acceptCall names the accept system call in errors, as Go's net does.
const acceptCall = "accept"

// isConnAcceptErr reports the accept errors that concern the connection
// being accepted, not the listener (accept it again): the peer's abort
// and the network errors Linux reports there, where a system has them.
func isConnAcceptErr(e unix.Errno) bool {
	switch e {
	case unix.ECONNABORTED, unix.EINTR, unix.EPROTO, unix.ENOPROTOOPT,
		unix.ENETDOWN, unix.ENETUNREACH, unix.EHOSTDOWN, unix.EHOSTUNREACH,
		unix.EOPNOTSUPP:
		return true
	}
	return false
}

// sysAccept accepts one connection as a nonblocking, close-on-exec
// socket.
func sysAccept(fd int) (int, sockaddr, error) {
	for {
		syscall.ForkLock.RLock()
		nfd, sa, err := unix.Accept(fd)
		if err == nil {
			unix.CloseOnExec(nfd)
		}
		syscall.ForkLock.RUnlock()
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err != nil {
			return -1, sockaddr{}, err
		}
		if err := unix.SetNonblock(nfd, true); err != nil {
			unix.Close(nfd)
			return -1, sockaddr{}, err
		}
		return nfd, fromUnix(sa), nil
	}
}

// sysSocket opens a nonblocking, close-on-exec stream socket of the
// neutral family (afInet4, afInet6, afUnix).
func sysSocket(family int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(unixFamily(family), unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return fd, nil
}

// sysDupCloexec duplicates fd as a close-on-exec descriptor, under
// syscall.ForkLock so that no fork inherits it before the flag is set.
func sysDupCloexec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	nfd, err := unix.Dup(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError("dup", err)
	}
	return nfd, nil
}

// setTCPOptions turns Nagle off and keep-alive on (idle >= 0) with the
// system's timers: the per-socket keep-alive options differ between
// these systems.
func setTCPOptions(fd int, idle time.Duration) error {
	if err := setNoDelay(fd); err != nil {
		return err
	}
	if idle < 0 {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// The keep-alive timers' options differ between these systems, and no
// native backend runs here (pollset_none.go): Conn's setters never reach
// these.
func sysSetKeepAliveIdle(fd, secs int) error     { return ErrNoNativeBackend }
func sysSetKeepAliveInterval(fd, secs int) error { return ErrNoNativeBackend }
func sysSetKeepAliveCount(fd, n int) error       { return ErrNoNativeBackend }

// errNoReusePort: SO_REUSEPORT's balancing across sockets is Linux's.
var errNoReusePort = errors.New("netpoll: SO_REUSEPORT balancing needs Linux")

func setReusePort(fd int) error { return errNoReusePort }
