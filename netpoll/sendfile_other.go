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
