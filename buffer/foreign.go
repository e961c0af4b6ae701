package buffer

// Releaser owns bytes that a LinkBuffer holds without owning them (see
// WriteForeign). ReleaseForeign is called exactly once per WriteForeign,
// with its tag, once no LinkBuffer references any of those bytes: after
// the consumer read them all and called Release, after every Slice or
// Append that shared them was released or closed, or when the buffers
// holding them were closed or freed. It runs on the goroutine that let go
// of the last reference, which may be any consumer of any buffer that
// shared the bytes; it must not call back into those buffers.
type Releaser interface {
	ReleaseForeign(tag uintptr)
}

// WriteForeign links p to the end of the buffer as a node of its own,
// without copying: the bytes count as written and become readable at the
// next Flush, like those of WriteBinary. They stay owned by r: the caller
// must not change or free them until r.ReleaseForeign(tag) is called,
// exactly once, when every buffer is done with them (see Releaser). On
// error (a closed buffer, a batch past MaxBatch) nothing is linked and
// ReleaseForeign has been called before WriteForeign returns; an empty p
// is released at once too.
//
// The node is never written into: later writes go into nodes of the
// buffer's own. WriteForeign belongs to the producer side.
func (b *LinkBuffer) WriteForeign(p []byte, r Releaser, tag uintptr) error {
	if len(p) == 0 {
		r.ReleaseForeign(tag)
		return b.openOrLive()
	}
	if err := b.fits(len(p)); err != nil {
		r.ReleaseForeign(tag)
		return err
	}
	if err := b.begin(); err != nil {
		r.ReleaseForeign(tag)
		return err
	}
	nd := bareNode()
	if nodeAccounting.Load() {
		liveNodes.Add(1)
	}
	// len == cap == wp: the node has no room, so no write lands in it
	// (see room), and its bytes are all written.
	nd.buf = p[:len(p):len(p)]
	nd.wp = len(p)
	nd.rel, nd.tag = r, tag
	b.book = nil
	b.mu.Lock()
	b.link(nd, nd)
	b.mu.Unlock()
	b.pending += int32(len(p))
	return nil
}
