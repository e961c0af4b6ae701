//go:build !unix

package testutil

import (
	"errors"
	"net"
)

// receiveBuffer cannot read SO_RCVBUF back here.
func receiveBuffer(c *net.TCPConn) (int, error) { return 0, errors.ErrUnsupported }
