package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// Client calls an RPC server over one connection dialed through
// netpoll's Dialer. Calls are serialized: one request is outstanding at
// a time, untagged, read back by the caller. Pool is the multiplexed
// client.
type Client struct {
	// turn is held (a value in it) by the call using the connection:
	// one at a time. A channel, so that waiting for it ends with the
	// call's ctx.
	turn chan struct{}
	conn *netpoll.Conn
	max  int
	err  error // why the connection is unusable; every later call returns it (turn held)
}

// DialClient connects to an RPC server at addr ("tcp" or "unix" network).
// max bounds a frame's payload both ways, as the server's limit does: a
// request's (its operation and argument) and a response's; 0 or less
// means DefaultMaxFrame.
func DialClient(ctx context.Context, network, addr string, max int) (*Client, error) {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	var d netpoll.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial: %w", err)
	}
	return &Client{turn: make(chan struct{}, 1), conn: c, max: max}, nil
}

// Call is CallContext with context.Background(): it has no timeout, so
// a server that accepts and then never answers (nor closes) holds it,
// and every call after it, until Close, which ends it with an error.
// Use CallContext to bound it.
func (c *Client) Call(op byte, arg []byte) ([]byte, error) {
	return c.CallContext(context.Background(), op, arg)
}

// CallContext sends op with arg and returns a copy of the response
// payload. An argument over the limit is refused before anything is
// sent. When ctx ends first, the call returns an error wrapping
// ctx.Err(): while it waits for its turn (another call holds the
// connection) or before its request is sent, nothing is sent and the
// connection stays usable. A failed send or response, ctx's end among
// the causes, leaves the stream out of step (part of a frame may be
// sent or unread), so the client closes its connection and every later
// call returns that error, wrapped.
func (c *Client) CallContext(ctx context.Context, op byte, arg []byte) ([]byte, error) {
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("rpc: call: %w", ctx.Err())
	}
	defer func() { <-c.turn }()
	if c.err != nil {
		return nil, fmt.Errorf("rpc: connection unusable: %w", c.err)
	}
	if limit := c.max - 1; len(arg) > limit {
		return nil, fmt.Errorf("%w: argument of %d bytes, limit %d", ErrFrameTooLarge, len(arg), max(limit, 0))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rpc: call: %w", err)
	}
	resp, err := c.callWithin(ctx, op, arg)
	if err != nil {
		c.err = err
		c.conn.Close()
	}
	return resp, err
}

// callWithin is call bounded by ctx: ctx's end moves the connection's
// deadline into the past, which wakes a blocked Flush or read.
func (c *Client) callWithin(ctx context.Context, op byte, arg []byte) ([]byte, error) {
	if ctx.Done() != nil {
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			c.conn.SetDeadline(time.Unix(1, 0))
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired // not to leave a past deadline for the next call
				c.conn.SetDeadline(time.Time{})
			}
		}()
	}
	return c.call(ctx, op, arg)
}

// call sends the request and reads its response. A wait that ctx's end
// cut short fails with ctx's error.
func (c *Client) call(ctx context.Context, op byte, arg []byte) ([]byte, error) {
	w := c.conn.Writer()
	buf, err := w.Malloc(HeaderLen + 1 + len(arg))
	if err != nil {
		return nil, err
	}
	putLen(buf, 1+len(arg))
	buf[HeaderLen] = op
	copy(buf[HeaderLen+1:], arg)
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("rpc: send: %w", ended(ctx, err))
	}
	r := c.conn.Reader()
	n, err := ReadHeader(r, c.max)
	if err != nil {
		return nil, fmt.Errorf("rpc: response: %w", ended(ctx, err))
	}
	resp, err := r.ReadBinary(n)
	if err != nil {
		return nil, fmt.Errorf("rpc: response: %w", ended(ctx, bodyErr(n, err)))
	}
	return resp, r.Release()
}

// ended returns ctx's error in place of err when err is the expiry of
// the connection's deadline, which only ctx's end sets.
func ended(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return cerr
	}
	return err
}

// Close closes the client's connection; a call waiting for its response
// returns an error.
func (c *Client) Close() error { return c.conn.Close() }

func putLen(b []byte, n int) { binary.BigEndian.PutUint32(b, uint32(n)) }
