package testutil

import (
	"errors"
	"net"
	"os"
)

// IsTimeout reports whether err is the deadline error that net.Conn
// promises and net/http relies on: a *net.OpError at the top level (net/http
// type-asserts net.Error, so a wrapped one does not count) whose Timeout
// is true and which wraps os.ErrDeadlineExceeded.
func IsTimeout(err error) bool {
	oe, ok := err.(*net.OpError)
	return ok && oe.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}
