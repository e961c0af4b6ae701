//go:build unix

package testutil

import (
	"net"
	"syscall"
)

// receiveBuffer reads SO_RCVBUF of c back (Linux reports twice the size
// set, for its bookkeeping).
func receiveBuffer(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	return n, serr
}
