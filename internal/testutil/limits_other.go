//go:build !unix && !windows

package testutil

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// NofileLimit fails: this system has no RLIMIT_NOFILE.
func NofileLimit() (soft, hard uint64, err error) {
	return 0, 0, fmt.Errorf("RLIMIT_NOFILE: %w", errors.ErrUnsupported)
}

// SetNofileLimit fails: this system has no RLIMIT_NOFILE.
func SetNofileLimit(soft, hard uint64) error {
	return fmt.Errorf("RLIMIT_NOFILE: %w", errors.ErrUnsupported)
}

// SelfCPU fails: this system reports no CPU time of a process.
func SelfCPU() (time.Duration, error) {
	return 0, fmt.Errorf("process CPU time: %w", errors.ErrUnsupported)
}

// SetReceiveBuffer fails: this system has no socket options to set.
func SetReceiveBuffer(rc syscall.RawConn, size int) error {
	return fmt.Errorf("SO_RCVBUF: %w", errors.ErrUnsupported)
}
