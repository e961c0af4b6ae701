//go:build !plan9

package netpoll

import "syscall"

// errBrokenPipe is the error a write after CloseWrite matches.
var errBrokenPipe error = syscall.EPIPE

// errOpNotSupported is what a TCP option set on a Unix-domain socket
// wraps, as setsockopt(TCP_NODELAY) on one fails; errors.Is(err,
// errors.ErrUnsupported) holds for it.
var errOpNotSupported error = syscall.EOPNOTSUPP
