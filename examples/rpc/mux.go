package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/upoll/upoll/netpoll"
)

var (
	// ErrUnknownID reports a response whose request id was never issued
	// on its connection.
	ErrUnknownID = errors.New("rpc: response to an unknown request id")
	// ErrConnClosed reports a connection that closed with calls in
	// flight, or a call made on a pool whose connections are all closed.
	// The error of a call in flight also wraps the reason, if any: a
	// reset, a bad frame (ErrFrameTooLarge, ErrUnknownID, ErrTruncated).
	ErrConnClosed = errors.New("rpc: connection closed")
	// ErrCallTimeout reports a call that got no response within its
	// timeout.
	ErrCallTimeout = errors.New("rpc: call timed out")

	// errIDsSpent reports a connection that has issued its last request
	// id; Pool.Call goes on to another one.
	errIDsSpent = fmt.Errorf("%w: request ids used up", ErrConnClosed)
)

// Pool is a multiplexed RPC client: N connections, each carrying many
// calls at once. A call takes the next connection in turn, sends a
// tagged request (see OpTagged) and waits; the connections' handler,
// run by the pool's own poller group when responses arrive, matches
// each response to its call by id and hands over the payload. No
// goroutine waits in a read.
//
// A connection that closes (the server closes or resets it, say) fails
// the calls in flight on it with an error wrapping ErrConnClosed and the
// reason. A bad frame from the server (a length over the limit, an id
// no call is waiting for, a frame cut short by the end of the stream)
// closes it so, the reason wrapping ErrFrameTooLarge, ErrUnknownID or
// ErrTruncated; the other connections go on. Later calls skip closed
// connections; a pool does not dial again. A call that a connection
// turns away before sending anything (it closed, or spent its ids,
// after the call chose it) goes on to another.
//
// A call that ends before its response (timeout, ctx) is forgotten at
// once; its response, if it comes, is dropped. Request ids are never
// reused on a connection, so a late response cannot be taken for a
// newer call's: a connection that has issued 2^32-1 ids takes no more
// calls and is closed once its last call ends.
type Pool struct {
	group   *netpoll.Server
	conns   []*muxConn
	next    atomic.Uint32
	timeout time.Duration
}

// PoolConfig configures DialPool.
type PoolConfig struct {
	Conns   int           // connections; default 1
	Timeout time.Duration // per call unless ctx ends sooner; 0: none
	Max     int           // largest response payload; default DefaultMaxFrame (a connection buffers up to a frame of it)
	Dialer  netpoll.Dialer
	Options []netpoll.Option // for the pool's poller group (NewServer); an OnDisconnect among them runs after the pool's, a MaxInput below a frame of Max is raised to one
}

// muxConn is one connection of a pool and its calls in flight.
type muxConn struct {
	c   *netpoll.Conn
	max int

	// turn is held (a value in it) by the call that builds and queues a
	// request frame (Malloc…FlushAsync): one at a time. A channel, so
	// that waiting for it ends with the call's timeout or ctx.
	turn chan struct{}

	mu      sync.Mutex
	nextID  uint32                 // the id the next call gets; 0 once they ran out
	spent   atomic.Bool            // nextID has reached 0 (read without mu)
	pending map[uint32]chan result // calls waiting for their response; nil once failed
	err     error                  // why the connection failed

	partial bool // the handler left an incomplete frame (handler/OnDisconnect only)
}

// result is what a call receives, once, on its channel in pending. The
// channel is buffered: the handler never waits for the caller.
type result struct {
	payload []byte
	err     error
}

// DialPool dials cfg.Conns connections to addr on a poller group of
// its own.
func DialPool(ctx context.Context, network, addr string, cfg PoolConfig) (*Pool, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 1
	}
	if cfg.Max <= 0 {
		cfg.Max = DefaultMaxFrame
	}
	// The handler answers a call once its whole response frame is
	// buffered, so the input bound must hold the largest one. The pool's
	// OnDisconnect fails the calls in flight: a caller's own hook runs
	// after it rather than in its place.
	var user netpoll.Config
	for _, o := range cfg.Options {
		if o != nil {
			o(&user)
		}
	}
	onDisconnect := muxDisconnect
	if userHook := user.OnDisconnect; userHook != nil {
		onDisconnect = func(c *netpoll.Conn, err error) {
			muxDisconnect(c, err)
			userHook(c, err)
		}
	}
	need := HeaderLen + 1 + IDLen + cfg.Max
	opts := append([]netpoll.Option{netpoll.WithMaxInput(max(netpoll.DefaultMaxInput, need))}, cfg.Options...)
	if user.MaxInput > 0 && user.MaxInput < need {
		// Reading would stop inside a response frame, which the
		// handler waits for whole without waiting in a read: for good.
		opts = append(opts, netpoll.WithMaxInput(need))
	}
	opts = append(opts, netpoll.WithOnDisconnect(onDisconnect))
	g, err := netpoll.NewServer(muxHandler, opts...)
	if err != nil {
		return nil, fmt.Errorf("rpc: pool: %w", err)
	}
	p := &Pool{group: g, timeout: cfg.Timeout}
	d := cfg.Dialer
	d.Server = g
	for range cfg.Conns {
		m := &muxConn{max: cfg.Max, nextID: 1, pending: make(map[uint32]chan result), turn: make(chan struct{}, 1)}
		d.Context = m
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("rpc: dial: %w", err)
		}
		m.c = c
		p.conns = append(p.conns, m)
	}
	return p, nil
}

// Call sends op with arg on the next open connection and returns the
// response payload (the caller keeps it). It fails when ctx ends, the
// pool's timeout passes (ErrCallTimeout), or the connection fails
// before the response arrives. A server that accepts and then neither
// answers nor closes is noticed only by ctx and the timeout: with no
// timeout and a ctx that never ends, a call to it waits until the pool
// is closed or shut down. The timeout and ctx also bound the wait to
// send: a call that ends while its request waits for a server that
// does not read (output above MaxOutput) closes that connection, as
// the requests queued on it could only pile up.
func (p *Pool) Call(ctx context.Context, op byte, arg []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // nothing sent for a call that cannot wait
	}
	// pick's look at a connection and the call's registration on it
	// are not one step: the connection may fail, or spend its last id,
	// in between. It then refuses the call before anything is sent,
	// and pick skips it from then on, so each refusal rules one
	// connection out and the call goes on to another.
	err := error(ErrConnClosed)
	for range len(p.conns) {
		m, perr := p.pick()
		if perr != nil {
			return nil, perr
		}
		resp, cerr := m.call(ctx, op, arg, p.timeout)
		var refused *refusedError
		if !errors.As(cerr, &refused) {
			return resp, cerr
		}
		err = refused.err
	}
	return nil, err
}

// pick returns the next connection that has neither failed nor spent
// its ids.
func (p *Pool) pick() (*muxConn, error) {
	start := p.next.Add(1)
	for i := range uint32(len(p.conns)) {
		m := p.conns[(start+i)%uint32(len(p.conns))]
		if m.open() {
			return m, nil
		}
	}
	return nil, ErrConnClosed
}

// alive reports whether a connection of the pool is open: a call may
// still be sent.
func (p *Pool) alive() bool {
	_, err := p.pick()
	return err == nil
}

// Close closes the connections (failing their calls in flight) and the
// pool's poller group.
func (p *Pool) Close() error { return p.group.Close() }

// Shutdown shuts the pool's poller group down (see netpoll's
// Server.Shutdown): handlers running finish, then every connection is
// closed; calls still waiting fail with ErrConnClosed. A connection
// that holds part of a response stays open until the rest comes; if
// ctx ends first, Shutdown closes the connections left, as Close does,
// and returns ctx.Err().
func (p *Pool) Shutdown(ctx context.Context) error {
	err := p.group.Shutdown(ctx)
	if err != nil {
		p.group.Close() // no call may wait on a connection left open
	}
	return err
}

func (m *muxConn) open() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending != nil && m.nextID != 0
}

func (m *muxConn) call(ctx context.Context, op byte, arg []byte, timeout time.Duration) ([]byte, error) {
	// The server's limit is on the whole payload: op, id, op, arg. An
	// argument it would refuse is refused here, before it closes the
	// connection under every call in flight on it.
	if limit := m.max - (1 + IDLen + 1); len(arg) > limit {
		return nil, fmt.Errorf("%w: argument of %d bytes, limit %d", ErrFrameTooLarge, len(arg), max(limit, 0))
	}
	done := make(chan result, 1)
	id, err := m.register(done)
	if err != nil {
		return nil, err
	}
	var expired <-chan time.Time
	var dl time.Time // when the call ends, if it does
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
		dl = time.Now().Add(timeout)
	}
	if d, ok := ctx.Deadline(); ok && (dl.IsZero() || d.Before(dl)) {
		dl = d
	}
	switch queued, err := m.send(ctx, expired, dl, id, op, arg); {
	case err == nil:
	case !queued:
		// The call ended waiting for its turn: nothing was written.
		if r, ok := m.abandon(id, done); ok {
			return r.payload, r.err
		}
		return nil, err
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The call ended while its send waited for the server to read
		// (above MaxOutput): the connection is stuck behind a peer
		// that does not read, and what each call leaves queued would
		// pile up. It is closed, failing the calls in flight on it.
		m.c.Close()
		if r, ok := m.abandon(id, done); ok {
			return r.payload, r.err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, ErrCallTimeout
	default:
		// The connection is broken or closing: close it, and the call
		// gets the reason with the others in flight (muxDisconnect).
		m.c.Close()
	}
	select {
	case r := <-done:
		return r.payload, r.err
	case <-expired:
		if r, ok := m.abandon(id, done); ok {
			return r.payload, r.err
		}
		return nil, ErrCallTimeout
	case <-ctx.Done():
		if r, ok := m.abandon(id, done); ok {
			return r.payload, r.err
		}
		return nil, ctx.Err()
	}
}

// refusedError is the error of a call that its connection refused
// before anything was sent, because the connection had failed (err is
// why) or spent its ids (errIDsSpent). Pool.Call then tries another
// connection.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// register gives a new call the next request id and enters done in
// pending under it. Ids are issued once each, in order, from 1: after
// the last (2^32-1) the connection refuses calls with errIDsSpent. A
// failed connection refuses them with why it failed. A refusal is a
// *refusedError.
func (m *muxConn) register(done chan result) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.pending == nil:
		return 0, &refusedError{m.err}
	case m.nextID == 0:
		return 0, &refusedError{errIDsSpent}
	}
	id := m.nextID
	m.nextID++
	if m.nextID == 0 {
		m.spent.Store(true)
	}
	m.pending[id] = done
	return id, nil
}

// issued reports whether id was given to a call. m.mu is held.
func (m *muxConn) issued(id uint32) bool {
	return id != 0 && (m.nextID == 0 || id < m.nextID)
}

// retired reports whether the connection has spent its ids and has no
// call left: nothing will use it again. m.mu is held.
func (m *muxConn) retired() bool {
	return m.nextID == 0 && m.pending != nil && len(m.pending) == 0
}

// send writes one tagged request frame and leaves its sending to the
// connection's poller (FlushAsync): the frames that callers queue on a
// busy connection meanwhile go out in one writev. Above MaxOutput
// FlushAsync waits for the server to read; that wait, and the wait for
// the turn, end when the call does (expired, ctx, or dl, the earlier of
// the two deadlines). queued is false when the call ended before its
// turn came: nothing of it was written.
func (m *muxConn) send(ctx context.Context, expired <-chan time.Time, dl time.Time, id uint32, op byte, arg []byte) (queued bool, err error) {
	select {
	case m.turn <- struct{}{}:
	case <-expired:
		return false, ErrCallTimeout
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-m.turn }()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if !dl.IsZero() {
		if !time.Now().Before(dl) {
			if d, ok := ctx.Deadline(); ok && d.Equal(dl) {
				return false, context.DeadlineExceeded
			}
			return false, ErrCallTimeout
		}
		m.c.SetWriteDeadline(dl)
		defer m.c.SetWriteDeadline(time.Time{})
	}
	if ctx.Done() != nil {
		// A cancelled ctx ends a waiting FlushAsync as a deadline does.
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			m.c.SetWriteDeadline(time.Unix(1, 0))
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired // not to leave a past deadline for the next turn
			}
			m.c.SetWriteDeadline(time.Time{})
		}()
	}
	return true, m.write(id, op, arg)
}

// write builds the request frame in the Writer and flushes it
// (FlushAsync). The caller holds the turn.
func (m *muxConn) write(id uint32, op byte, arg []byte) error {
	w := m.c.Writer()
	const head = HeaderLen + 1 + IDLen + 1
	buf, err := w.Malloc(head + len(arg))
	if err != nil {
		return err
	}
	putLen(buf, head-HeaderLen+len(arg))
	buf[HeaderLen] = OpTagged
	binary.BigEndian.PutUint32(buf[HeaderLen+1:], id)
	buf[head-1] = op
	copy(buf[head:], arg)
	return w.FlushAsync()
}

// abandon removes the call with id, whose caller stops waiting, from
// pending; if its result came in the meantime it is returned instead.
// It closes a retired connection: this may have been its last call.
func (m *muxConn) abandon(id uint32, done chan result) (result, bool) {
	m.mu.Lock()
	select {
	case r := <-done:
		m.mu.Unlock()
		return r, true
	default:
	}
	delete(m.pending, id)
	retired := m.retired()
	if retired {
		// No call to fail; the reason is the one muxHandler gives.
		m.pending, m.err = nil, connClosed(m.c, errIDsSpent, false)
	}
	m.mu.Unlock()
	if retired {
		// Outside m.mu: closing leads to muxDisconnect, which takes it.
		m.c.Close()
	}
	return result{}, false
}

// deliver hands a response to its call. A response to an id issued but
// not pending is dropped: its call was abandoned (or already answered,
// a server's fault that cannot be told apart without keeping every
// abandoned id).
func (m *muxConn) deliver(id uint32, payload []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	done, ok := m.pending[id]
	if !ok {
		if m.issued(id) {
			return nil
		}
		return fmt.Errorf("%w: %d", ErrUnknownID, id)
	}
	delete(m.pending, id)
	done <- result{payload: payload} // buffered, sent once
	return nil
}

// fail fails every call in flight with err and refuses new ones.
func (m *muxConn) fail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending == nil {
		return
	}
	for _, done := range m.pending {
		done <- result{err: err} // buffered, sent once
	}
	m.pending, m.err = nil, err
}

// muxHandler is the pool connections' handler: it delivers every
// complete response buffered and leaves an incomplete one for the next
// run, never waiting for input. A bad frame is returned as the error,
// which closes the connection; muxDisconnect then fails its calls. A
// retired connection is closed the same way, with no call left to fail.
func muxHandler(c *netpoll.Conn) error {
	m := c.Context().(*muxConn)
	r := c.Reader()
	for {
		id, payload, err := parseResponse(r, m.max)
		if err != nil {
			return err
		}
		if payload == nil {
			break
		}
		if err := m.deliver(id, payload); err != nil {
			return err
		}
	}
	m.partial = r.Len() > 0
	if err := r.Release(); err != nil {
		return err
	}
	if m.isRetired() {
		return errIDsSpent
	}
	return nil
}

// isRetired is retired for a caller that does not hold m.mu; it takes
// m.mu only once the ids are spent, not on every handler run.
func (m *muxConn) isRetired() bool {
	if !m.spent.Load() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.retired()
}

// peekReader is what parseResponse needs of a connection's Reader.
type peekReader interface {
	Len() int
	Peek(n int) ([]byte, error)
	Skip(n int) error
	ReadBinary(n int) ([]byte, error)
}

// parseResponse takes one complete tagged response frame from r and
// returns its id and a copy of its payload; a nil payload (and no
// error) means that the next frame is not complete yet: nothing was
// consumed. It never asks r for more bytes than it holds, so it never
// waits. A length over max, or too short for an id, is ErrFrameTooLarge
// or ErrTruncated as soon as the length prefix is buffered: a server
// that sends a bad prefix and then nothing more cannot keep the calls
// waiting.
func parseResponse(r peekReader, max int) (uint32, []byte, error) {
	if r.Len() < HeaderLen {
		return 0, nil, nil
	}
	hdr, err := r.Peek(HeaderLen)
	if err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr)
	if uint64(n) > uint64(max)+IDLen {
		return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max+IDLen)
	}
	if n < IDLen {
		return 0, nil, fmt.Errorf("%w: a tagged frame of %d bytes has no room for its id", ErrTruncated, n)
	}
	if r.Len() < HeaderLen+int(n) {
		return 0, nil, nil
	}
	hdr, err = r.Peek(HeaderLen + IDLen) // the whole frame is buffered
	if err != nil {
		return 0, nil, err
	}
	id := binary.BigEndian.Uint32(hdr[HeaderLen:])
	if err := r.Skip(HeaderLen + IDLen); err != nil {
		return 0, nil, err
	}
	payload, err := r.ReadBinary(int(n) - IDLen)
	if err != nil {
		return 0, nil, err
	}
	if payload == nil {
		payload = []byte{}
	}
	return id, payload, nil
}

// muxDisconnect fails the calls in flight of a closed pool connection
// with an error wrapping ErrConnClosed and, if there is one, why it
// closed.
func muxDisconnect(c *netpoll.Conn, reason error) {
	m, ok := c.Context().(*muxConn)
	if !ok {
		return
	}
	m.fail(connClosed(c, reason, m.partial))
}

// connClosed is the error of the calls in flight on c, closed for reason
// (nil if none was given); partial says that it left a response
// incomplete.
func connClosed(c *netpoll.Conn, reason error, partial bool) error {
	// Every error wraps ErrConnClosed, whatever the cause (a reset, a
	// bad frame, a timeout): a caller tells a call lost with its
	// connection from one refused or timed out by testing for it alone.
	switch {
	case errors.Is(reason, ErrConnClosed):
		// Already says so (errIDsSpent): not twice.
		return fmt.Errorf("rpc: connection to %v: %w", c.RemoteAddr(), reason)
	case reason != nil && !errors.Is(reason, netpoll.ErrServerClosed):
		return fmt.Errorf("rpc: connection to %v: %w: %w", c.RemoteAddr(), ErrConnClosed, reason)
	case partial:
		return fmt.Errorf("rpc: connection to %v: %w: %w", c.RemoteAddr(), ErrConnClosed, ErrTruncated)
	}
	return fmt.Errorf("rpc: connection to %v: %w", c.RemoteAddr(), ErrConnClosed)
}
