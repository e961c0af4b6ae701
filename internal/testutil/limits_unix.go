//go:build unix

package testutil

import (
	"os"
	"syscall"
	"time"
)

// NofileLimit returns the process's soft and hard RLIMIT_NOFILE.
func NofileLimit() (soft, hard uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, os.NewSyscallError("getrlimit", err)
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}

// SetNofileLimit sets the process's soft and hard RLIMIT_NOFILE.
func SetNofileLimit(soft, hard uint64) error {
	var lim syscall.Rlimit
	setRlim(&lim.Cur, soft)
	setRlim(&lim.Max, hard)
	return os.NewSyscallError("setrlimit", syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim))
}

// setRlim stores v in a field of syscall.Rlimit, whose type is uint64 on
// most systems and int64 on the BSDs that follow FreeBSD.
func setRlim[T int64 | uint64](f *T, v uint64) { *f = T(v) }

// SelfCPU returns the user plus system CPU time of this process so far.
func SelfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, os.NewSyscallError("getrusage", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// SetReceiveBuffer sets SO_RCVBUF on the socket behind rc, for a
// net.Dialer's Control: set before connect, it also bounds the window
// the handshake announces.
func SetReceiveBuffer(rc syscall.RawConn, size int) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt SO_RCVBUF", serr)
}
