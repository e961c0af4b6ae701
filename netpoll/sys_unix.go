//go:build unix

package netpoll

import (
	"errors"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The socket calls every Unix shares. The I/O calls, accept and socket,
// whose fastest form differs (accept4, SOCK_NONBLOCK, RawSyscall), are
// in sys_linux.go and sys_posix.go.

// errAgain is the errno of a nonblocking call that would block.
var errAgain error = unix.EAGAIN

// errConnRefused is what a dial reports when it only ever connected to
// itself.
var errConnRefused error = unix.ECONNREFUSED

// errnoOf returns the errno that err carries (EIO when none), to be
// kept in a connection's cerr word.
func errnoOf(err error) int32 {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		errno = unix.EIO
	}
	return int32(errno)
}

// errnoErr is the error of an errno kept by errnoOf.
func errnoErr(e int32) error {
	if e == 0 {
		return unix.EIO
	}
	return unix.Errno(e)
}

// unixFamily maps a neutral address family to the kernel's.
func unixFamily(family int) int {
	switch family {
	case afInet4:
		return unix.AF_INET
	case afUnix:
		return unix.AF_UNIX
	}
	return unix.AF_INET6
}

// toUnix converts a neutral address for the kernel.
func toUnix(sa sockaddr) unix.Sockaddr {
	switch sa.family() {
	case afUnix:
		return &unix.SockaddrUnix{Name: sa.path}
	case afInet4:
		return &unix.SockaddrInet4{Port: int(sa.ap.Port()), Addr: sa.ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(sa.ap.Port()), Addr: sa.ap.Addr().As16(), ZoneId: sa.zone}
}

// fromUnix converts a kernel address; nil gives the zero sockaddr.
func fromUnix(sa unix.Sockaddr) sockaddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return sockaddr{ap: netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))}
	case *unix.SockaddrInet6:
		return sockaddr{ap: netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)), zone: sa.ZoneId}
	case *unix.SockaddrUnix:
		return unixSockaddr(sa.Name)
	}
	return sockaddr{}
}

// sysConnect starts a nonblocking connect. EINPROGRESS means the
// handshake goes on and completion is reported as writable; EINTR on a
// nonblocking connect also lets it continue asynchronously (connect(2)),
// so both are reported as "in progress".
func sysConnect(fd int, sa sockaddr) (inProgress bool, err error) {
	if sa.unix {
		err = syscall.Connect(fd, unixName(sa))
	} else {
		err = unix.Connect(fd, toUnix(sa))
	}
	switch err {
	case nil:
		return false, nil
	case unix.EINPROGRESS, unix.EINTR, unix.EALREADY:
		return true, nil
	default:
		return false, err
	}
}

func sysBind(fd int, sa sockaddr) error {
	var err error
	if sa.unix {
		err = syscall.Bind(fd, unixName(sa))
	} else {
		err = unix.Bind(fd, toUnix(sa))
	}
	if err != nil {
		return os.NewSyscallError("bind", err)
	}
	return nil
}

// unixName converts a Unix-domain address for bind and connect through
// package syscall, whose limits are Go's net's: x/sys/unix refuses an
// abstract name (Linux) that fills sun_path, which needs no NUL after
// it, where Go's net listens on it and dials it.
func unixName(sa sockaddr) *syscall.SockaddrUnix { return &syscall.SockaddrUnix{Name: sa.path} }

func sysListen(fd, backlog int) error {
	if err := unix.Listen(fd, backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	return nil
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

// sysWaitWritable waits at most d for fd to be writable, or to report
// an error or a hang-up (a connect's outcome). A signal ends the wait
// early, reporting false.
func sysWaitWritable(fd int, d time.Duration) (bool, error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	msec := int((max(d, 0) + time.Millisecond - 1) / time.Millisecond) // never < 0: no limit
	n, err := unix.Poll(fds, msec)
	switch {
	case err == unix.EINTR:
		return false, nil
	case err != nil:
		return false, os.NewSyscallError("poll", err)
	}
	return n > 0 && fds[0].Revents != 0, nil
}

// sysShutdownRead and sysShutdownWrite shut one direction of a socket.
func sysShutdownRead(fd int) error  { return sysShutdown(fd, unix.SHUT_RD) }
func sysShutdownWrite(fd int) error { return sysShutdown(fd, unix.SHUT_WR) }

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

func sysGetsockname(fd int) (sockaddr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return sockaddr{}, os.NewSyscallError("getsockname", err)
	}
	return fromUnix(sa), nil
}

func sysGetpeername(fd int) (sockaddr, error) {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return sockaddr{}, os.NewSyscallError("getpeername", err)
	}
	return fromUnix(sa), nil
}

// acceptStepAfter says what a listener does after accept failed with
// err, a bare errno (the native backends) or one wrapped by Go's net
// (BackendStd). An error without an errno keeps the listener, backing
// off.
func acceptStepAfter(err error) acceptStep {
	var e unix.Errno
	switch {
	case !errors.As(err, &e) || isResourceErr(e):
		return acceptBackOff
	case isConnAcceptErr(e):
		return acceptNext
	}
	return acceptStop
}

// isResourceErr reports the accept errors after which the listener
// keeps working once resources are freed.
func isResourceErr(err error) bool {
	return err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM
}

func setReuseAddr(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

func setIPv6Only(fd int, v bool) error {
	val := 0
	if v {
		val = 1
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, val); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// setNoDelay turns Nagle's algorithm off, as Go's net does.
func setNoDelay(fd int) error { return sysSetNoDelay(fd, true) }

// setsockoptInt sets an integer socket option; a failure is the errno
// in an *os.SyscallError, as Go's net reports it.
func setsockoptInt(fd, level, opt, v int) error {
	if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// The socket options of Conn's setters (sockopt.go) that every Unix
// spells the same; the keep-alive timers are per OS.

func sysSetNoDelay(fd int, on bool) error {
	return setsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, boolInt(on))
}

func sysSetKeepAlive(fd int, on bool) error {
	return setsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, boolInt(on))
}

func sysSetReadBuffer(fd, bytes int) error {
	return setsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
}

func sysSetWriteBuffer(fd, bytes int) error {
	return setsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
}

// sysSetLinger sets SO_LINGER as Go's SetLinger does: off for sec < 0,
// else on with sec seconds.
func sysSetLinger(fd, sec int) error {
	var l unix.Linger
	if sec >= 0 {
		l.Onoff, l.Linger = 1, int32(sec)
	}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// sysLingerZero reports whether fd's SO_LINGER is on with no time
// (SetLinger(0)): its close(2) resets the connection.
func sysLingerZero(fd int) bool {
	l, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
	return err == nil && l.Onoff != 0 && l.Linger == 0
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sysDup duplicates fd as a nonblocking, close-on-exec descriptor.
func sysDup(fd int) (int, error) {
	nfd, err := sysDupCloexec(fd)
	if err != nil {
		return -1, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("fcntl", err)
	}
	return nfd, nil
}
