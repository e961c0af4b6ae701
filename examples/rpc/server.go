package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/netpoll"
)

// Operations: a request's payload starts with one of these bytes; the
// rest is the argument.
const (
	// OpEcho returns the argument unchanged, without copying it: the
	// request body is sliced out of the input buffer and linked into the
	// output buffer.
	OpEcho = 'e'
	// OpUpper returns the argument in upper case, computed straight into
	// memory taken from the output buffer with Malloc.
	OpUpper = 'u'
)

// ErrUnknownOp reports a request whose first byte names no operation.
var ErrUnknownOp = errors.New("rpc: unknown operation")

// handler returns the netpoll handler of the RPC server. It answers every
// complete request buffered on the connection; a protocol error (a frame
// over max, a truncated frame, an unknown operation) is returned, which
// closes that connection only.
func handler(max int) netpoll.Handler {
	return func(c *netpoll.Conn) error {
		r, w := c.Reader(), c.Writer()
		for r.Len() > 0 {
			n, err := ReadHeader(r, max)
			if err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: empty request", ErrUnknownOp)
			}
			// Slice shares the body's memory and stays valid after
			// Release: a server could hand it to another goroutine.
			body, err := r.Slice(n)
			if err != nil {
				return bodyErr(n, err)
			}
			err = answer(body, w)
			body.Close()
			if err != nil {
				return err
			}
			if err := r.Release(); err != nil {
				return err
			}
		}
		return w.Flush()
	}
}

// answer writes the response frame for one request body.
func answer(body *buffer.LinkBuffer, w netpoll.Writer) error {
	op, err := body.ReadByte()
	if err != nil {
		return err
	}
	n := body.Len()
	switch op {
	case OpEcho:
		hdr, err := w.Malloc(HeaderLen)
		if err != nil {
			return err
		}
		putLen(hdr, n)
		return w.Append(body) // links the nodes: no copy
	case OpUpper:
		arg, err := body.Next(n)
		if err != nil {
			return err
		}
		out, err := w.Malloc(HeaderLen + n)
		if err != nil {
			return err
		}
		putLen(out, n)
		copy(out[HeaderLen:], bytes.ToUpper(arg))
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownOp, op)
}
