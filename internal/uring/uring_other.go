//go:build !linux

package uring

import (
	"errors"
	"fmt"
)

// ErrUnavailable is wrapped by every error that says io_uring cannot be
// used, with the cause.
var ErrUnavailable = errors.New("io_uring unavailable")

// Available reports why io_uring cannot be used: it is Linux-only.
func Available() error { return fmt.Errorf("%w: not Linux", ErrUnavailable) }
