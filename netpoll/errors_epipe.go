//go:build !plan9

package netpoll

import "syscall"

// errBrokenPipe is the error a write after CloseWrite matches.
var errBrokenPipe error = syscall.EPIPE
