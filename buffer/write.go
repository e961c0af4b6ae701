package buffer

import (
	"errors"
	"io"
)

// begin opens a write batch if none is open: from now until Flush the
// consumer leaves the tail and every new node alone.
func (b *LinkBuffer) begin() error {
	if b.writing {
		return nil
	}
	b.mu.Lock()
	if b.isClosed() {
		b.mu.Unlock()
		return ErrClosed
	}
	b.open()
	b.mu.Unlock()
	return nil
}

// open opens the batch; mu must be held, so that a Release or Close in
// progress finishes with the tail before the producer may write into it.
// A batch opened under mu is not owned: the consumer may look at the
// list again (under mu) while it is open.
func (b *LinkBuffer) open() {
	b.writing = true
	d := int64(batchOpen)
	if b.length.Load()&ownedBit != 0 {
		d -= ownedBit // only we clear it, and only the consumer sets it, under mu
	}
	b.length.Add(d)
	b.mark = b.tail
}

// room returns how many bytes can be written into the tail in place: none
// when the tail is a view, whose spare capacity belongs to another buffer,
// nor when it is foreign (WriteForeign), whose bytes are its owner's even
// where MallocAck dropped them from the buffer.
func (b *LinkBuffer) room() int {
	t := b.tail
	if t == nil || t.origin != nil || t.rel != nil {
		return 0
	}
	return len(t.buf) - t.wp
}

// reserve returns the tail after making sure it has at least need
// contiguous free bytes (need >= 1). A new node is sized for
// max(need, hint), hint capped at maxNodeSize. It opens the batch and links
// a new node under one lock when both are needed, the common case of a
// write into a drained buffer.
func (b *LinkBuffer) reserve(need, hint int, lane uint8) (*node, error) {
	b.book = nil // any write cancels an outstanding Book
	if b.writing {
		if b.room() >= need {
			return b.tail, nil
		}
	} else if b.length.Load() == ownedBit {
		// An empty list that the consumer leaves alone, and not closed
		// (a Close from now on leaves the batch to Flush): an owned
		// batch, opened and linked without mu or batchOpen (see
		// ownedBit). mark is nil: the list was empty when the bit was
		// set, and nobody set it since.
		b.writing = true
		nd := newNode(max(need, min(hint, maxNodeSize)), lane)
		b.head, b.tail = nd, nd
		return nd, nil
	}
	b.mu.Lock()
	if !b.writing {
		if b.isClosed() {
			b.mu.Unlock()
			return nil, ErrClosed
		}
		b.open()
		if t := b.tail; b.room() >= need {
			b.mu.Unlock()
			return t, nil
		}
	}
	nd := newNode(max(need, min(hint, maxNodeSize)), lane)
	b.link(nd, nd)
	b.mu.Unlock()
	return nd, nil
}

// link appends the chain first..last to the list; mu must be held.
func (b *LinkBuffer) link(first, last *node) {
	if b.tail == nil {
		b.head = first
	} else {
		b.tail.next = first
	}
	b.tail = last
}

// Malloc returns n contiguous writable bytes at the end of the buffer. They
// count as written (see MallocLen) and become readable at the next Flush;
// MallocAck can give back an unused end. The slice must not be used after
// Flush. Malloc belongs to the producer side.
func (b *LinkBuffer) Malloc(n int) ([]byte, error) {
	if n < 0 {
		return nil, ErrNegativeCount
	}
	if n == 0 {
		return []byte{}, b.begin()
	}
	if err := b.fits(n); err != nil {
		return nil, err
	}
	t, err := b.reserve(n, n, laneWrite)
	if err != nil {
		return nil, err
	}
	p := t.buf[t.wp : t.wp+n : t.wp+n]
	t.wp += n
	b.pending += int32(n)
	b.malloced = true
	return p, nil
}

// Disown is for a producer call that ends a batch another goroutine
// may still be building: netpoll's Conn.Write sending a Writer's open
// batch ahead of its own bytes, say. When the open batch holds space
// that Malloc handed out, the bytes of its nodes go to the garbage
// collector rather than back to the pool once the buffer is done with
// them, so that a late write into that space (a misuse: the slices were
// valid only until the batch ended) lands in memory that no other
// buffer is given, never in another buffer's bytes. It changes nothing
// else: the batch stays open, and what it holds is flushed as usual.
func (b *LinkBuffer) Disown() {
	if !b.malloced {
		return
	}
	b.malloced = false
	for nd := b.firstOfBatch(); nd != nil; nd = nd.next {
		// Pooled bytes only (recycle then gives the struct alone back):
		// Malloc never hands out a view's or a Releaser's bytes. The
		// consumer frees no node of an open batch, and may read bb
		// only when it does.
		if nd.origin == nil && nd.rel == nil {
			nd.bb.Store(nil)
		}
	}
}

// MallocLen returns the number of bytes written since the last Flush and not
// yet readable.
func (b *LinkBuffer) MallocLen() int {
	return int(b.pending)
}

// MaxBatch bounds the bytes of one write batch (written and not yet
// flushed), so that the count fits the LinkBuffer's 32-bit field; a
// write past it fails with ErrTooLarge.
const MaxBatch = 1 << 30

// fits reports ErrTooLarge when n more bytes would take the open batch
// past MaxBatch.
func (b *LinkBuffer) fits(n int) error {
	if n > MaxBatch-int(b.pending) {
		return ErrTooLarge
	}
	return nil
}

// MallocAck keeps the first n bytes written since the last Flush and drops
// the rest, typically the unused end of a Malloc. It returns ErrNotEnough,
// changing nothing, when n > MallocLen.
func (b *LinkBuffer) MallocAck(n int) error {
	if n < 0 {
		return ErrNegativeCount
	}
	if b.isClosed() {
		return ErrClosed
	}
	if n > int(b.pending) {
		return ErrNotEnough
	}
	if n == int(b.pending) {
		return nil
	}
	b.book = nil
	keep := n
	for nd := b.firstOfBatch(); nd != nil; nd = nd.next {
		end := int(nd.end) // the producer is the only writer of end
		if u := nd.wp - end; keep >= u {
			keep -= u
		} else {
			nd.wp = end + keep
			keep = 0
		}
	}
	b.pending = int32(n)
	return nil
}

// firstOfBatch returns the first node that may hold unpublished bytes.
// Only the producer calls it, while its batch is open: the nodes from mark
// on cannot be freed by the consumer.
func (b *LinkBuffer) firstOfBatch() *node {
	if !b.writing {
		return nil
	}
	if b.mark != nil {
		return b.mark
	}
	// The list was empty when the batch began: every node is new. The
	// consumer does not touch head while nothing is published.
	return b.head
}

// WriteBinary copies p to the end of the buffer; the bytes become readable
// at the next Flush. The caller may reuse p at once.
func (b *LinkBuffer) WriteBinary(p []byte) (int, error) {
	if err := b.fits(len(p)); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, b.openOrLive()
	}
	total := len(p)
	for len(p) > 0 {
		t, err := b.reserve(1, len(p), laneWrite)
		if err != nil {
			return total - len(p), err
		}
		k := copy(t.buf[t.wp:], p)
		t.wp += k
		b.pending += int32(k)
		p = p[k:]
	}
	return total, nil
}

// WriteString is WriteBinary for a string.
func (b *LinkBuffer) WriteString(s string) (int, error) {
	if err := b.fits(len(s)); err != nil {
		return 0, err
	}
	if len(s) == 0 {
		return 0, b.openOrLive()
	}
	total := len(s)
	for len(s) > 0 {
		t, err := b.reserve(1, len(s), laneWrite)
		if err != nil {
			return total - len(s), err
		}
		k := copy(t.buf[t.wp:], s)
		t.wp += k
		b.pending += int32(k)
		s = s[k:]
	}
	return total, nil
}

// openOrLive returns ErrClosed for a write that writes nothing on a
// closed buffer, unless a batch opened before Close is still open (its
// writes may still succeed).
func (b *LinkBuffer) openOrLive() error {
	if !b.writing && b.isClosed() {
		return ErrClosed
	}
	return nil
}

// WriteByte appends one byte; it becomes readable at the next Flush.
func (b *LinkBuffer) WriteByte(c byte) error {
	if err := b.fits(1); err != nil {
		return err
	}
	t, err := b.reserve(1, 1, laneWrite)
	if err != nil {
		return err
	}
	t.buf[t.wp] = c
	t.wp++
	b.pending++
	return nil
}

// Write implements io.Writer: WriteBinary followed by Flush, so that code
// written for an io.Writer (fmt.Fprintf, io.Copy) produces readable bytes.
func (b *LinkBuffer) Write(p []byte) (int, error) {
	n, err := b.WriteBinary(p)
	if err != nil {
		return n, err
	}
	return n, b.Flush()
}

// minReadSize is the least free space ReadFrom offers to one Read call.
const minReadSize = 512

// errNegativeRead reports a Reader that broke the io.Reader contract.
var errNegativeRead = errors.New("buffer: reader returned an invalid count")

// ReadFrom implements io.ReaderFrom: it reads from r into the buffer until
// io.EOF, publishing each chunk as it arrives (a concurrent consumer sees
// the bytes at once). It returns the number of bytes read and nil at io.EOF.
//
// The first chunk joins the open write batch and is published with it, so
// r is offered no more than the batch may still take (MaxBatch); when the
// batch is full ReadFrom returns ErrTooLarge without calling r, like the
// other writes. Flush first.
func (b *LinkBuffer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		left := MaxBatch - int(b.pending)
		if left <= 0 {
			return total, ErrTooLarge
		}
		// Never hand a Reader a sliver of the tail: one call per few bytes.
		t, err := b.reserve(minReadSize, minNodeSize, laneWrite)
		if err != nil {
			return total, err
		}
		free := t.buf[t.wp:]
		if len(free) > left {
			free = free[:left]
		}
		m, err := r.Read(free)
		if m < 0 || m > len(free) {
			return total, errNegativeRead
		}
		t.wp += m
		b.pending += int32(m)
		total += int64(m)
		if ferr := b.Flush(); ferr != nil {
			return total, ferr
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Append moves every readable byte of other to the end of b without copying
// them: b links views of other's nodes (shared, reference counted) and
// other is left empty, with its consumed nodes released. The bytes become
// readable in b at b's next Flush. Append is a producer call on b and a
// consumer call on other.
func (b *LinkBuffer) Append(other *LinkBuffer) error {
	if other == nil || other == b {
		return ErrSelfAppend
	}
	if other.isClosed() {
		return ErrClosed
	}
	n := other.Len()
	if err := b.begin(); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	if err := b.fits(n); err != nil {
		return err
	}
	first, last := other.takeViews(n, false)
	if err := other.Release(); err != nil {
		freeChain(first)
		return err
	}
	b.book = nil
	b.mu.Lock()
	b.link(first, last)
	b.mu.Unlock()
	b.pending += int32(n)
	return nil
}

// Flush publishes every byte written since the last Flush: they become
// readable by the consumer, and the slices returned by Malloc and Book must
// no longer be used. Flush closes the write batch, so that a drained buffer
// can give all its nodes back on the consumer's next Release.
func (b *LinkBuffer) Flush() error {
	if !b.writing {
		if b.isClosed() {
			return ErrClosed
		}
		return nil
	}
	// The common batch wrote into one node, the tail, and left nothing to
	// trim: its shape is unchanged, so there is nothing to lock. While the
	// batch is open the consumer frees no node of it and does not write head
	// (see Release and Close), so the producer may read head here.
	first, fresh := b.mark, b.mark == nil
	if fresh {
		first = b.head
		if b.pending == 0 && b.length.Load()&ownedBit != 0 {
			// An owned batch that holds no byte (an answer sent from its
			// node, dropped with MallocAck(0); a read that found
			// nothing): every node of the list is new and unwritten, and
			// the consumer leaves them alone, so they go without mu and
			// the list stays owned.
			b.head, b.tail = nil, nil
			freeChain(first)
			return b.endBatch()
		}
	}
	if first == b.tail && (first == nil || !fresh || first.wp != int(first.end)) {
		switch {
		case first == nil:
			// An empty batch (Malloc(0)) on an empty list.
		case fresh:
			// A node new to this batch is out of the consumer's reach until
			// the add in endBatch publishes it (and a Release under mu does
			// not read its end while batchOpen is set): a plain store is
			// enough, and saves an atomic one.
			first.end = int64(first.wp)
		default:
			first.publish()
		}
		return b.endBatch()
	}
	b.mu.Lock()
	if b.isClosed() {
		b.mu.Unlock()
		return b.flushClosed()
	}
	freed := b.trim()
	if b.head == nil {
		// The batch held nothing and the list is empty: closed under mu,
		// so that a Release or Close that looked at the list while the
		// batch was open is done with it before the list is owned.
		b.writing, b.malloced = false, false
		b.book, b.pending = nil, 0
		if b.length.Load()&ownedBit == 0 {
			b.length.Add(ownedBit - batchOpen)
		}
		b.mu.Unlock()
		freeChain(freed)
		return nil
	}
	for nd := b.firstOfBatch(); nd != nil; nd = nd.next {
		nd.publish()
		if nd != b.tail {
			nd.sealed = true
		}
	}
	b.mu.Unlock()
	freeChain(freed)
	return b.endBatch()
}

// endBatch publishes the batch's bytes and closes it in one atomic add; a
// Close that saw the batch open (or owned) has left its nodes to us. An
// owned batch ends the ownership in the add that publishes its bytes,
// and one without bytes (its nodes already dropped) ends with no atomic.
func (b *LinkBuffer) endBatch() error {
	n := int64(b.pending)
	// mark stays: a Close that saw the batch open may be reading it. The
	// consumer clears it once it sees the batch closed (see Release).
	b.writing, b.malloced = false, false
	b.book, b.pending = nil, 0
	if b.length.Load()&ownedBit == 0 {
		b.length.Add(n - batchOpen)
	} else if n > 0 {
		b.length.Add(n - ownedBit) // an owned batch has no batchOpen
	}
	if b.isClosed() {
		return b.flushClosed()
	}
	return nil
}

// flushClosed frees what Close left to the producer: the nodes of the batch
// that was open when Close ran (or nothing, when Close came after the batch
// closed and freed everything itself).
func (b *LinkBuffer) flushClosed() error {
	b.mu.Lock()
	freed, lent := b.head, b.lent
	b.head, b.tail, b.mark = nil, nil, nil
	b.writing, b.pending, b.lent, b.malloced = false, 0, false, false
	b.book = nil
	b.length.Store(closedBit)
	b.mu.Unlock()
	b.dropChain(freed, lent) // lent: left set by Close (see there)
	return ErrClosed
}

// trim unlinks the new nodes at the end of the batch that received no byte
// (left over by Book or MallocAck) and returns them; mu must be held. The
// consumer cannot be looking at them: nothing in them was ever published.
func (b *LinkBuffer) trim() *node {
	var keep *node = b.mark // last node to keep
	start := b.head
	if b.mark != nil {
		start = b.mark.next
	}
	for nd := start; nd != nil; nd = nd.next {
		if nd.wp != int(nd.end) {
			keep = nd
		}
	}
	var cut *node
	if keep == nil {
		cut = b.head
		b.head, b.tail = nil, nil
	} else if keep != b.tail {
		cut = keep.next
		keep.next = nil
		b.tail = keep
	}
	return cut
}
