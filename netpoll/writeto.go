package netpoll

import (
	"errors"
	"io"
)

// errInvalidWrite is WriteTo's error for a w that reports having written
// more than it was given (or a negative count), as io.Copy's is.
var errInvalidWrite = errors.New("invalid write result")

// WriteTo implements io.WriterTo: it writes the connection's input to w
// until the peer's end of stream (io.EOF, which is not returned) or an
// error, and returns the count written. io.Copy from a Conn calls it.
// The bytes go to w straight from the inbound buffer, with no copy and
// no buffer of their own; w must not keep the slices it is given, as the
// io.Writer contract says.
//
// It reads as Read does: serialized with other readers, under the read
// deadline and ReadTimeout, and an inline handler's call on its own
// poller fails with ErrWouldBlock rather than wait. What w did not take
// when it failed stays buffered for the next read, in order. A w that
// takes less than it was given without an error fails with
// io.ErrShortWrite.
//
// Its error is shaped as *net.TCPConn's WriteTo's: a *net.OpError with
// Op "writeto" and the connection's network and addresses, wrapping the
// read's error (a *net.OpError "read" of its own) or w's error as w
// returned it.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	n, err := c.writeTo(w)
	if err != nil {
		err = c.opErr("writeto", err)
	}
	return n, err
}

func (c *Conn) writeTo(w io.Writer) (int64, error) {
	if err := c.lockRead(); err != nil {
		return 0, err
	}
	defer c.unlockRead()
	if !c.incref() {
		return 0, c.opErr("read", errClosed)
	}
	defer c.decref()
	var total int64
	for {
		if c.readDeadlinePassed() {
			return total, c.opErr("read", errTimeout)
		}
		if err := c.waitRead(1); err != nil {
			if err == io.EOF {
				return total, nil
			}
			return total, err
		}
		var arr [maxVecs][]byte
		var werr error
		for _, v := range c.in.GetBytes(arr[:0]) {
			m, err := w.Write(v)
			if m < 0 || m > len(v) {
				werr = errInvalidWrite
				break
			}
			if m > 0 {
				c.in.Skip(m)
				total += int64(m)
			}
			if err == nil && m < len(v) {
				err = io.ErrShortWrite
			}
			if err != nil {
				werr = err
				break
			}
		}
		c.in.Release()
		c.consumed()
		if werr != nil {
			return total, werr
		}
	}
}
