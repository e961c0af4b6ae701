package netpoll

import "errors"

// errBrokenPipe is the error a write after CloseWrite matches: none,
// Plan 9 has no EPIPE.
var errBrokenPipe error

// errOpNotSupported is what a TCP option set on a Unix-domain socket
// wraps; Plan 9 has no EOPNOTSUPP.
var errOpNotSupported error = errors.ErrUnsupported
