package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/upoll/upoll/netpoll"
)

// Client calls an RPC server over one connection dialed through
// netpoll's Dialer. Calls are serialized: one request is outstanding at
// a time, untagged, read back by the caller. Pool is the multiplexed
// client.
type Client struct {
	mu   sync.Mutex
	conn *netpoll.Conn
	max  int
	err  error // why the connection is unusable; every later Call returns it
}

// DialClient connects to an RPC server at addr ("tcp" or "unix" network).
func DialClient(ctx context.Context, network, addr string, max int) (*Client, error) {
	var d netpoll.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial: %w", err)
	}
	return &Client{conn: c, max: max}, nil
}

// Call sends op with arg and returns a copy of the response payload. An
// argument over the limit is refused before anything is sent. A failed
// send or response leaves the stream out of step (part of a frame may
// be sent or unread), so the client closes its connection and every
// later Call returns that error, wrapped. Call has no timeout: a server
// that stops answering holds it until Close, which ends it with an
// error.
func (c *Client) Call(op byte, arg []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, fmt.Errorf("rpc: connection unusable: %w", c.err)
	}
	if limit := c.max - 1; len(arg) > limit {
		return nil, fmt.Errorf("%w: argument of %d bytes, limit %d", ErrFrameTooLarge, len(arg), max(limit, 0))
	}
	resp, err := c.call(op, arg)
	if err != nil {
		c.err = err
		c.conn.Close()
	}
	return resp, err
}

func (c *Client) call(op byte, arg []byte) ([]byte, error) {
	w := c.conn.Writer()
	buf, err := w.Malloc(HeaderLen + 1 + len(arg))
	if err != nil {
		return nil, err
	}
	putLen(buf, 1+len(arg))
	buf[HeaderLen] = op
	copy(buf[HeaderLen+1:], arg)
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("rpc: send: %w", err)
	}
	r := c.conn.Reader()
	n, err := ReadHeader(r, c.max)
	if err != nil {
		return nil, fmt.Errorf("rpc: response: %w", err)
	}
	resp, err := r.ReadBinary(n)
	if err != nil {
		return nil, fmt.Errorf("rpc: response: %w", bodyErr(n, err))
	}
	return resp, r.Release()
}

// Close closes the client's connection.
func (c *Client) Close() error { return c.conn.Close() }

func putLen(b []byte, n int) { binary.BigEndian.PutUint32(b, uint32(n)) }
