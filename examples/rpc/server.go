package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

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
	// OpUpper returns the argument in upper case (bytes.ToUpper, which
	// may change its length), copied into memory taken from the output
	// buffer with Malloc.
	OpUpper = 'u'
	// OpSleep waits for the number of milliseconds in the argument's
	// first two bytes (big-endian), then returns the rest of the
	// argument. Tagged, it is answered after the requests that follow it
	// if they take less time: the server answers out of order, for up to
	// 64 sleeps and 1 MiB of their arguments waiting at once per
	// connection (more are served in order; all are under
	// DispatchInline, the handler sleeping on its poller).
	OpSleep = 's'
	// OpTagged wraps a request for a multiplexed client: the payload is
	// OpTagged, a 4-byte big-endian request id, then a plain request
	// (operation and argument). The response's payload is the same id
	// followed by the plain response. Tagged requests may be answered
	// in any order; untagged ones are answered in order.
	OpTagged = '#'
)

// IDLen is the size of a tagged frame's request id.
const IDLen = 4

// ErrUnknownOp reports a request whose first byte names no operation.
var ErrUnknownOp = errors.New("rpc: unknown operation")

// maxDelayed and maxDelayedBytes bound the tagged sleeps of one
// connection that wait on timers, each holding its request's body: in
// number and in the bytes of those bodies. Past either a tagged sleep is
// served in order, the handler sleeping while the connection's input
// waits in the kernel: a client cannot make the server hold more.
const (
	maxDelayed      = 64
	maxDelayedBytes = 1 << 20
)

// connState is what the server keeps per connection.
type connState struct {
	// mu keeps a frame built by the handler and one built by a delayed
	// answer from interleaving in the output buffer (Malloc…Flush is
	// one goroutine's at a time).
	mu sync.Mutex

	dmu     sync.Mutex
	delayed map[*time.Timer]*buffer.LinkBuffer // waiting answers and their bodies
	held    int                                // bytes of those bodies
	gone    bool                               // the connection closed: nothing more waits

	bodyLen int // the length of a request whose header the handler has taken, its body not (handler only)
}

// serverOnConnect gives each connection its state before its first
// handler run.
func serverOnConnect(c *netpoll.Conn) { c.SetContext(new(connState)) }

// serverOnDisconnect drops the connection's waiting answers.
func serverOnDisconnect(c *netpoll.Conn, _ error) {
	if st, ok := c.Context().(*connState); ok {
		st.dropDelayed()
	}
}

// later runs answer after d, holding body until then, unless the
// connection has maxDelayed answers waiting, or maxDelayedBytes of
// bodies with this one, or closed (false).
func (st *connState) later(d time.Duration, body *buffer.LinkBuffer, answer func()) bool {
	st.dmu.Lock()
	defer st.dmu.Unlock()
	n := body.Len()
	if st.gone || len(st.delayed) >= maxDelayed || st.held+n > maxDelayedBytes {
		return false
	}
	if st.delayed == nil {
		st.delayed = make(map[*time.Timer]*buffer.LinkBuffer)
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		st.dmu.Lock() // after the assignment of t below
		delete(st.delayed, t)
		st.held -= n
		st.dmu.Unlock()
		answer()
	})
	st.delayed[t] = body
	st.held += n
	return true
}

// dropDelayed stops the waiting answers and frees their bodies; those
// whose timer already fired finish on their own (their write fails).
func (st *connState) dropDelayed() {
	st.dmu.Lock()
	defer st.dmu.Unlock()
	st.gone = true
	for t, body := range st.delayed {
		if t.Stop() {
			st.held -= body.Len()
			body.Close()
			delete(st.delayed, t)
		}
	}
}

// heldBytes is how many bytes the bodies of waiting answers hold.
func (st *connState) heldBytes() int {
	st.dmu.Lock()
	defer st.dmu.Unlock()
	return st.held
}

// waiting is how many answers wait on timers.
func (st *connState) waiting() int {
	st.dmu.Lock()
	defer st.dmu.Unlock()
	return len(st.delayed)
}

// handler returns the netpoll handler of the RPC server. It answers every
// complete request buffered on the connection; a protocol error (a frame
// over max, a truncated frame, an unknown operation) is returned, which
// closes that connection only, after the answers to the requests before
// it are sent. Before it waits for the rest of a request it sends the
// answers it has built, so that none waits for the next request to
// arrive. Under DispatchInline, where a wait for input or output room
// says ErrWouldBlock, it returns nil instead, and the poller runs it
// again for more input or once its output has drained; a request whose
// header it has taken is then remembered in the connection's state.
// It answers tagged sleeps from timers: a server under DispatchInline
// takes handlerFor, as newServer does.
func handler(max int) netpoll.Handler { return handlerFor(max, new(bool)) }

// handlerFor is handler for a server whose dispatch is DispatchInline
// where *inline is true (read when a request is served). There tagged
// sleeps are served in order, never from timers: a timer's answer
// holds the connection's st.mu while its Flush waits for the poller
// to send output above MaxOutput, and the handler, running on that
// poller, would wait for st.mu, stalling the poller and every
// connection on it for good.
func handlerFor(max int, inline *bool) netpoll.Handler {
	return func(c *netpoll.Conn) error {
		st, _ := c.Context().(*connState)
		if st == nil {
			st = new(connState)
			c.SetContext(st)
		}
		r, w := c.Reader(), c.Writer()
		// Under DispatchInline, output over MaxOutput (left by a Flush
		// that said ErrWouldBlock) makes the second write of a batch
		// say it too, after the request it answers was taken: such a
		// run waits, its input untaken, for the queue to drain, which
		// runs it again. Flush, even of nothing, says so.
		st.mu.Lock()
		err := w.Flush()
		st.mu.Unlock()
		if err != nil {
			return unlessWouldBlock(err)
		}
		for r.Len() > 0 {
			n := st.bodyLen
			if n == 0 {
				if r.Len() < HeaderLen {
					// The header is still coming: answer first.
					if err := st.flushOver(w, 1); err != nil {
						return unlessWouldBlock(err)
					}
				}
				h, err := ReadHeader(r, max)
				switch {
				case err == io.EOF || errors.Is(err, netpoll.ErrWouldBlock):
					return nil // nothing taken
				case err != nil:
					return st.flushFailing(w, err)
				case h == 0:
					return st.flushFailing(w, fmt.Errorf("%w: empty request", ErrUnknownOp))
				}
				n = h
			}
			if r.Len() < n {
				// The body is still coming: answer first.
				st.bodyLen = n
				if err := st.flushOver(w, 1); err != nil {
					return unlessWouldBlock(err)
				}
			}
			// Slice shares the body's memory and stays valid after
			// Release: a delayed answer hands it to a timer.
			body, err := r.Slice(n)
			if errors.Is(err, netpoll.ErrWouldBlock) {
				st.bodyLen = n // the header is taken: the next run reads the body
				return nil
			}
			if err != nil {
				return st.flushFailing(w, bodyErr(n, err))
			}
			st.bodyLen = 0
			if err := r.Release(); err != nil {
				body.Close()
				return err
			}
			if err := serve(c, st, body, !*inline); err != nil {
				return st.flushFailing(w, err)
			}
			// While the handler answers, the poller reads the peer's
			// next requests, so the loop may never find the input
			// empty: answers kept in the batch until then would pile
			// up without bound for a peer that pipelines and never
			// reads. Past flushAt they are flushed, and Flush waits
			// above MaxOutput, holding the next requests in the kernel.
			if err := st.flushOver(w, flushAt); err != nil {
				return unlessWouldBlock(err)
			}
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		return unlessWouldBlock(w.Flush())
	}
}

// flushFailing sends the answers built before a bad request and
// returns err, the request's, which closes the connection.
func (st *connState) flushFailing(w netpoll.Writer, err error) error {
	st.flushOver(w, 1)
	return err
}

// unlessWouldBlock is err, or nil for ErrWouldBlock: an inline
// handler's Flush that found no room keeps its batch, which the poller
// sends once the output has drained.
func unlessWouldBlock(err error) error {
	if errors.Is(err, netpoll.ErrWouldBlock) {
		return nil
	}
	return err
}

// flushAt is how many bytes of answers the handler builds before it
// flushes them.
const flushAt = 64 << 10

// flushOver flushes w once its batch holds n bytes or more.
func (st *connState) flushOver(w netpoll.Writer, n int) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if w.MallocLen() < n {
		return nil
	}
	return w.Flush()
}

// serve answers one request body (and closes it): at once, or for a
// tagged sleep from a timer, which flushes its own answer, when timers
// is true.
func serve(c *netpoll.Conn, st *connState, body *buffer.LinkBuffer, timers bool) error {
	var tag []byte
	op, err := body.ReadByte()
	if err == nil && op == OpTagged {
		if tag, err = body.ReadBinary(IDLen); err == nil {
			op, err = body.ReadByte()
		}
	}
	if err != nil {
		body.Close()
		return fmt.Errorf("%w: short request", ErrUnknownOp)
	}
	if op == OpSleep {
		d, err := body.Next(2)
		if err != nil {
			body.Close()
			return fmt.Errorf("%w: sleep without a duration", ErrUnknownOp)
		}
		delay := time.Duration(binary.BigEndian.Uint16(d)) * time.Millisecond
		if tag != nil && timers && st.later(delay, body, func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			w := c.Writer()
			// The connection may be gone by now: the error only
			// says so.
			if answer(OpEcho, tag, body, w) == nil {
				w.Flush()
			}
			body.Close()
		}) {
			return nil
		}
		time.Sleep(delay)
		op = OpEcho
	}
	st.mu.Lock()
	err = answer(op, tag, body, c.Writer())
	st.mu.Unlock()
	body.Close()
	return err
}

// answer writes the response frame to op with what is left of body,
// prefixed with tag when the request was tagged.
func answer(op byte, tag []byte, body *buffer.LinkBuffer, w netpoll.Writer) error {
	n := body.Len()
	switch op {
	case OpEcho:
		hdr, err := w.Malloc(HeaderLen + len(tag))
		if err != nil {
			return err
		}
		putLen(hdr, len(tag)+n)
		copy(hdr[HeaderLen:], tag)
		return w.Append(body) // links the nodes: no copy
	case OpUpper:
		arg, err := body.Next(n)
		if err != nil {
			return err
		}
		// Upper case may be shorter or longer than arg (UTF-8).
		up := bytes.ToUpper(arg)
		out, err := w.Malloc(HeaderLen + len(tag) + len(up))
		if err != nil {
			return err
		}
		putLen(out, len(tag)+len(up))
		copy(out[HeaderLen:], tag)
		copy(out[HeaderLen+len(tag):], up)
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownOp, op)
}
