package buffer

// Book reserves at least size writable bytes for a vectored read (readv)
// and returns them as slices appended to vecs[:0]: the free end of the tail
// node, then new nodes as needed. A size below 1 counts as 1. The slices
// are valid until BookAck or any other write; BookAck(n) then keeps the
// first n bytes. Book returns no slice (vecs[:0]) when the buffer is closed.
// Book belongs to the producer side. A size above maxBook (1 GiB) books
// maxBook: one read never needs more, and the count stays in 32 bits.
func (b *LinkBuffer) Book(size int, vecs [][]byte) [][]byte {
	vecs = vecs[:0]
	size = min(max(size, 1), maxBook)
	var first *node
	if b.writing && b.room() > 0 { // the tail is ours only while writing
		first = b.tail
	} else {
		t, err := b.reserve(1, size, laneRead)
		if err != nil {
			return vecs
		}
		first = t
	}
	total := 0
	for nd := first; ; {
		free := nd.buf[nd.wp:]
		vecs = append(vecs, free)
		total += len(free)
		if total >= size {
			break
		}
		nd = newNode(min(size-total, maxNodeSize), laneRead)
		b.mu.Lock()
		b.link(nd, nd)
		b.mu.Unlock()
	}
	b.book = first
	return vecs
}

// maxBook bounds one Book: one read never needs more.
const maxBook = 1 << 30

// booked returns the space the outstanding Book handed out: the free end
// of its first node and all of every node after it, which Book linked
// (any other write cancels the Book, so nothing else was added since).
func (b *LinkBuffer) booked() int {
	n := 0
	for nd := b.book; nd != nil; nd = nd.next {
		n += len(nd.buf) - nd.wp
	}
	return n
}

// BookAck keeps the first n bytes of the space handed out by the last Book
// (what readv filled) and publishes them together with any other pending
// write, as Flush does. Booked nodes that received nothing are given back at
// once, so an idle connection whose last read found no data holds no node.
// It returns ErrNotEnough, publishing nothing, when n exceeds the booked
// space or no Book is outstanding (n > 0).
func (b *LinkBuffer) BookAck(n int) error {
	if n < 0 {
		return ErrNegativeCount
	}
	if n == 0 {
		b.book = nil
		return b.Flush()
	}
	if n > b.booked() {
		if err := b.openOrLive(); err != nil {
			return err
		}
		return ErrNotEnough
	}
	if err := b.fits(n); err != nil {
		return err
	}
	left := n
	for nd := b.book; left > 0; nd = nd.next {
		k := min(left, len(nd.buf)-nd.wp)
		nd.wp += k
		left -= k
	}
	b.pending += int32(n)
	b.book = nil
	return b.Flush()
}

// Unflushed returns the bytes written since the last Flush, without
// publishing them, when they are all the buffer holds: nothing is
// readable (Len is 0) and the batch lies in one node. It returns nil
// otherwise, and for an empty batch or a closed buffer. It lets a
// producer that is also a sender (a socket's writer, when nothing is
// queued ahead of its batch) send the batch from where it was written:
// when all of it went out, MallocAck(0) and Flush drop it; when part
// did, Flush publishes it and the consumer skips what was sent. The
// slice is valid until the producer's next call. Unflushed belongs to
// the producer side.
func (b *LinkBuffer) Unflushed() []byte {
	if b.pending == 0 || b.length.Load()&(lengthMask|closedBit) != 0 {
		return nil
	}
	nd := b.firstOfBatch()
	if nd != b.tail {
		return nil
	}
	// The producer is the only writer of end; the batch's bytes follow
	// the node's published ones.
	return nd.buf[int(nd.end):nd.wp]
}

// GetBytes appends to vecs[:0] up to cap(vecs) slices covering the readable
// bytes in order, for a vectored write (writev), without consuming them.
// After writing m bytes the consumer calls Skip(m) and Release. The slices
// are valid until Release. A vecs with no capacity gets nothing.
func (b *LinkBuffer) GetBytes(vecs [][]byte) [][]byte {
	vecs = vecs[:0]
	left := b.avail()
	if left == 0 || cap(vecs) == 0 || b.isClosed() {
		return vecs
	}
	b.lent = true
	for r := b.cursor(); len(vecs) < cap(vecs); r = r.next {
		seg := r.readable()
		if len(seg) > left {
			seg = seg[:left]
		}
		if len(seg) > 0 {
			vecs = append(vecs, seg)
			left -= len(seg)
		}
		if left == 0 {
			break
		}
	}
	return vecs
}
