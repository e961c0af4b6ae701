//go:build !linux

package netpoll

import "io"

// fRoomWait is never set where ReadFrom has no sendfile or splice.
const fRoomWait = fUnix << 10

// sendFile does nothing here: ReadFrom copies.
func (c *Conn) sendFile(r io.Reader) (written int64, err error, handled bool) {
	return 0, nil, false
}

// spliceFrom does nothing here: ReadFrom copies.
func (c *Conn) spliceFrom(r io.Reader) (written int64, err error, handled bool) {
	return 0, nil, false
}

// shutFile is false here: ReadFrom copies.
func (c *Conn) shutFile(r io.Reader) bool { return false }

// stdSockFailed takes BackendStd's socket for failed after Go's ReadFrom
// failed in sendfile, splice or write: nothing here tells the source's
// failure from the socket's.
func (c *Conn) stdSockFailed() bool { return true }
