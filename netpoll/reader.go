package netpoll

import (
	"errors"

	"github.com/upoll/upoll/buffer"
)

// Reader is the nocopy reading side of a Conn. Calls that need more
// bytes than are buffered block until they arrive, the read deadline or
// timeout passes, the connection closes, or the peer shuts down (then
// io.EOF once nothing is buffered, io.ErrUnexpectedEOF if some but too
// few bytes are). Slices returned by Next, Peek and Until point into
// the connection's buffer: they stay valid until Release, and must not
// be modified. Call Release when done with them, so buffers go back to
// the pool. A Close (from any goroutine) while slices are held leaves
// their memory to the garbage collector rather than the pool, so no
// other connection is given it; the one exception is input received
// without a copy under BackendUring, whose pieces go back to the
// kernel's buffer ring when the connection's last reference goes.
// Conn.Read and Conn.WriteTo release as they go: a slice taken before
// one of them on the same connection is invalid after it.
type Reader interface {
	// Next returns the next n bytes and advances (replaces io.ReadFull
	// into a fresh slice, without the copy).
	Next(n int) ([]byte, error)
	// Peek returns the next n bytes without advancing.
	Peek(n int) ([]byte, error)
	// Skip advances n bytes.
	Skip(n int) error
	// Until returns the bytes up to and including delim, waiting for
	// delim to arrive (replaces bufio.Reader.ReadSlice). It waits for
	// no more than the input bound (MaxInput): with that many bytes
	// buffered and no delim among them it returns ErrInputFull (wrapped
	// in a *net.OpError), leaving them buffered, so a peer that never
	// sends delim cannot grow the buffer past the bound.
	Until(delim byte) ([]byte, error)
	// ReadByte returns the next byte.
	ReadByte() (byte, error)
	// ReadBinary returns a copy of the next n bytes (caller keeps it).
	ReadBinary(n int) ([]byte, error)
	// ReadString returns the next n bytes as a string.
	ReadString(n int) (string, error)
	// Slice moves the next n bytes into a new LinkBuffer that shares
	// the memory and outlives Release (hand a request to another
	// goroutine; it must Release or Close the result).
	Slice(n int) (*buffer.LinkBuffer, error)
	// Release returns fully read buffers to the pool; slices returned
	// before must not be used after it.
	Release() error
	// Len returns the number of buffered, unread bytes.
	Len() int
}

// connReader is a Conn seen through Reader; the conversion allocates
// nothing.
type connReader Conn

// Reader returns the nocopy reading API of c.
func (c *Conn) Reader() Reader { return (*connReader)(c) }

func (r *connReader) conn() *Conn { return (*Conn)(r) }

// begin locks the reading side, takes a reference and waits for n
// bytes; end undoes it. Every Reader method has this shape.
func (r *connReader) begin(n int) error {
	c := r.conn()
	if err := c.lockRead(); err != nil {
		return err
	}
	if !c.incref() {
		c.unlockRead()
		return c.opErr("read", errClosed)
	}
	if c.readDeadlinePassed() {
		r.end()
		return c.opErr("read", errTimeout)
	}
	if err := c.waitRead(n); err != nil {
		r.end()
		return err
	}
	return nil
}

func (r *connReader) end() {
	c := r.conn()
	c.consumed()
	c.decref()
	c.unlockRead()
}

func (r *connReader) Next(n int) ([]byte, error) {
	if err := r.begin(n); err != nil {
		return nil, err
	}
	defer r.end()
	return r.in.Next(n)
}

func (r *connReader) Peek(n int) ([]byte, error) {
	if err := r.begin(n); err != nil {
		return nil, err
	}
	defer r.end()
	return r.in.Peek(n)
}

func (r *connReader) Skip(n int) error {
	if err := r.begin(n); err != nil {
		return err
	}
	defer r.end()
	return r.in.Skip(n)
}

func (r *connReader) ReadByte() (byte, error) {
	if err := r.begin(1); err != nil {
		return 0, err
	}
	defer r.end()
	return r.in.ReadByte()
}

func (r *connReader) ReadBinary(n int) ([]byte, error) {
	if err := r.begin(n); err != nil {
		return nil, err
	}
	defer r.end()
	return r.in.ReadBinary(n)
}

func (r *connReader) ReadString(n int) (string, error) {
	if err := r.begin(n); err != nil {
		return "", err
	}
	defer r.end()
	return r.in.ReadString(n)
}

func (r *connReader) Slice(n int) (*buffer.LinkBuffer, error) {
	if err := r.begin(n); err != nil {
		return nil, err
	}
	defer r.end()
	return r.in.Slice(n)
}

// Until waits for one byte more each time delim is not yet buffered, up
// to the input bound: waiting for more would raise the bound (waitRead
// lets the poller read up to what a reader waits for).
func (r *connReader) Until(delim byte) ([]byte, error) {
	if err := r.begin(1); err != nil {
		return nil, err
	}
	defer r.end()
	c := r.conn()
	for {
		// The bound is judged on what the scan saw, so n is taken
		// before it: on a native backend the poller appends input
		// meanwhile, and bytes that arrived after the scan (the
		// delimiter among them) are not a reason to give up.
		n := c.in.Len()
		b, err := c.in.Until(delim)
		if !errors.Is(err, buffer.ErrNotEnough) {
			return b, err
		}
		if testHookUntilMiss != nil {
			testHookUntilMiss(c)
		}
		if n >= c.owner.cfg.MaxInput {
			return nil, c.opErr("read", ErrInputFull)
		}
		if err := c.waitRead(n + 1); err != nil {
			return nil, err
		}
	}
}

// testHookUntilMiss, when set by a test, runs after each of Until's scans
// that found no delimiter.
var testHookUntilMiss func(c *Conn)

func (r *connReader) Release() error {
	c := r.conn()
	if err := c.lockRead(); err != nil {
		return err
	}
	defer c.unlockRead()
	if !c.incref() {
		return c.opErr("read", errClosed)
	}
	defer c.decref()
	// No consumed: Release frees nodes already read, and the accounting
	// and the resume follow the unread length, which it does not change.
	return c.in.Release()
}

func (r *connReader) Len() int { return r.in.Len() }
