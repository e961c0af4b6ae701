package buffer

import (
	"bytes"
	"io"
	"unsafe"
)

// check validates a read of n bytes: n >= 0, the buffer is open and holds
// at least n readable bytes.
func (b *LinkBuffer) check(n int) error {
	if n < 0 {
		return ErrNegativeCount
	}
	if b.isClosed() {
		return ErrClosed
	}
	if n > b.avail() {
		return ErrNotEnough
	}
	return nil
}

// avail returns the number of published, unread bytes (Len without the
// closed check): the consumer's view of length.
func (b *LinkBuffer) avail() int {
	return int(b.length.Load() & lengthMask)
}

// cursor returns the node holding the next unread byte, stepping over
// drained nodes. The caller must have seen Len() > 0: the bytes it counts
// were linked before they were published, so every next followed here is
// already set.
func (b *LinkBuffer) cursor() *node {
	r := b.read
	if r == nil {
		r = b.head
	}
	for r.off == r.limit() {
		r = r.next
		b.freeable = true
	}
	b.read = r
	return r
}

// drained notes that r may now be fully read, for Release.
func (b *LinkBuffer) drained(r *node) {
	if r.off == r.limit() {
		b.freeable = true
	}
}

// Peek returns the next n readable bytes without consuming them.
//
// When the bytes lie in one node, the result is a sub-slice of that node
// (no copy); otherwise it is a copy in a pooled buffer. Either way it is
// valid until the next Release (or Close) and must not be modified.
// Peek belongs to the consumer side.
func (b *LinkBuffer) Peek(n int) ([]byte, error) {
	if err := b.check(n); err != nil {
		return nil, err
	}
	if n == 0 {
		return []byte{}, nil
	}
	b.lent = true
	r := b.cursor()
	if r.off+n <= r.limit() {
		return r.buf[r.off : r.off+n : r.off+n], nil
	}
	p := b.scratch(n)
	b.peekInto(r, p)
	return p, nil
}

// Next returns the next n readable bytes and consumes them. It replaces
// io.ReadFull into a caller's buffer when the caller only needs to look at
// the bytes.
//
// When the bytes lie in one node, the result is a sub-slice of that node
// (no copy); otherwise it is a copy in a pooled buffer. Either way it is
// valid until the next Release (or Close): copy it, or use ReadBinary, to
// keep it longer. Next belongs to the consumer side.
func (b *LinkBuffer) Next(n int) ([]byte, error) {
	if err := b.check(n); err != nil {
		return nil, err
	}
	if n == 0 {
		return []byte{}, nil
	}
	b.lent = true
	r := b.cursor()
	if r.off+n <= r.limit() {
		p := r.buf[r.off : r.off+n : r.off+n]
		r.off += n
		b.drained(r)
		b.length.Add(int64(-n))
		return p, nil
	}
	p := b.scratch(n)
	b.peekInto(r, p)
	b.skip(n)
	return p, nil
}

// Skip consumes the next n readable bytes without looking at them.
func (b *LinkBuffer) Skip(n int) error {
	if err := b.check(n); err != nil {
		return err
	}
	if n > 0 {
		b.skip(n)
	}
	return nil
}

// Until returns the readable bytes up to and including the first delim and
// consumes them, with the validity of Next. When no delim is readable it
// returns ErrNotEnough and consumes nothing.
func (b *LinkBuffer) Until(delim byte) ([]byte, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	left := b.avail()
	if left == 0 {
		return nil, ErrNotEnough
	}
	seen := 0
	for r := b.cursor(); ; r = r.next {
		seg := r.readable()
		if len(seg) > left {
			seg = seg[:left]
		}
		if i := bytes.IndexByte(seg, delim); i >= 0 {
			return b.Next(seen + i + 1)
		}
		seen += len(seg)
		left -= len(seg)
		if left == 0 {
			return nil, ErrNotEnough
		}
	}
}

// ReadByte consumes and returns the next byte. It returns io.EOF when no
// byte is readable, as io.ByteReader expects.
func (b *LinkBuffer) ReadByte() (byte, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	if b.avail() == 0 {
		return 0, io.EOF
	}
	r := b.cursor()
	c := r.buf[r.off]
	r.off++
	b.drained(r)
	b.length.Add(-1)
	return c, nil
}

// ReadBinary consumes the next n bytes and returns them in a new slice that
// the caller owns.
func (b *LinkBuffer) ReadBinary(n int) ([]byte, error) {
	if err := b.check(n); err != nil {
		return nil, err
	}
	p := make([]byte, n)
	if n > 0 {
		b.peekInto(b.cursor(), p)
		b.skip(n)
	}
	return p, nil
}

// ReadString consumes the next n bytes and returns them as a string.
func (b *LinkBuffer) ReadString(n int) (string, error) {
	p, err := b.ReadBinary(n)
	if err != nil || n == 0 {
		return "", err
	}
	// p is new and never escapes elsewhere: sharing it spares a second copy.
	return unsafe.String(&p[0], n), nil
}

// Read implements io.Reader: it copies up to len(p) readable bytes into p.
// It returns io.EOF when no byte is readable. Because the caller keeps a
// copy, Read also releases the consumed nodes (see Release): slices from
// earlier Next or Peek calls become invalid.
func (b *LinkBuffer) Read(p []byte) (int, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	n := min(len(p), b.avail())
	if n == 0 {
		return 0, io.EOF
	}
	b.peekInto(b.cursor(), p[:n])
	b.skip(n)
	return n, b.Release()
}

// WriteTo implements io.WriterTo: it writes every readable byte to w, one
// node at a time without copying, consumes what w accepted and releases the
// consumed nodes (see Read).
func (b *LinkBuffer) WriteTo(w io.Writer) (int64, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	var total int64
	var err error
	for b.avail() > 0 {
		r := b.cursor()
		seg := r.readable()
		if left := b.avail(); len(seg) > left {
			seg = seg[:left]
		}
		var m int
		m, err = w.Write(seg)
		if m < 0 || m > len(seg) {
			m, err = 0, io.ErrShortWrite
		}
		if m > 0 {
			b.skip(m)
			total += int64(m)
		}
		if err == nil && m < len(seg) {
			err = io.ErrShortWrite
		}
		if err != nil {
			break
		}
	}
	if rerr := b.Release(); err == nil {
		err = rerr
	}
	return total, err
}

// peekInto copies len(p) readable bytes, starting at node r's cursor, into
// p without consuming them.
func (b *LinkBuffer) peekInto(r *node, p []byte) {
	for k := copy(p, r.readable()); k < len(p); {
		r = r.next
		k += copy(p[k:], r.readable())
	}
}

// skip consumes n readable bytes (0 < n <= Len).
func (b *LinkBuffer) skip(n int) {
	r := b.cursor()
	for left := n; ; r = r.next {
		avail := r.limit() - r.off
		if avail >= left {
			r.off += left
			break
		}
		r.off += avail
		left -= avail
		b.freeable = true
	}
	b.drained(r)
	b.read = r
	b.length.Add(int64(-n))
}

// scratch returns n bytes of pooled memory for a read that crosses nodes;
// it is freed by the next Release.
func (b *LinkBuffer) scratch(n int) []byte {
	nd := newNode(n, laneWrite)
	nd.next = b.cache
	b.cache = nd
	return nd.buf[:n:n]
}
