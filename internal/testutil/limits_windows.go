package testutil

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// NofileLimit fails: Windows has no limit on open descriptors to read.
func NofileLimit() (soft, hard uint64, err error) {
	return 0, 0, fmt.Errorf("RLIMIT_NOFILE: %w", errors.ErrUnsupported)
}

// SetNofileLimit fails: Windows has no limit on open descriptors to set.
func SetNofileLimit(soft, hard uint64) error {
	return fmt.Errorf("RLIMIT_NOFILE: %w", errors.ErrUnsupported)
}

// SelfCPU returns the user plus kernel CPU time of this process so far.
func SelfCPU() (time.Duration, error) {
	var created, exited, kernel, user syscall.Filetime
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0, os.NewSyscallError("GetCurrentProcess", err)
	}
	if err := syscall.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return 0, os.NewSyscallError("GetProcessTimes", err)
	}
	// A Filetime counts 100 ns intervals; these two hold durations.
	ticks := func(f syscall.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration(ticks(kernel)+ticks(user)) * 100, nil
}

// SetReceiveBuffer sets SO_RCVBUF on the socket behind rc, for a
// net.Dialer's Control: set before connect, it also bounds the window
// the handshake announces.
func SetReceiveBuffer(rc syscall.RawConn, size int) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
	}); err != nil {
		return err
	}
	return os.NewSyscallError("setsockopt SO_RCVBUF", serr)
}
