package uring

import (
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING): a group
// of equal buffers that the kernel picks from for operations prepared
// with SQEBufferSelect. The ring and the buffers are anonymous mappings,
// off the Go heap, so a buffer can be lent out while its bytes are
// referenced by plain slices. Take is for the goroutine that reaps the
// ring's completions (in their order); Recycle, InUse and Close are safe
// from any goroutine, so a piece may be given back by whoever holds it
// last.
//
// A completion that consumed a buffer hands out a piece of it (Take),
// which its holder gives back (Recycle). A classic ring's buffer is one
// piece and goes back to the kernel with it. An incremental ring's
// buffer (IOU_PBUF_RING_INC) takes the bytes of many completions, of
// any requests of the group, one after the other: each completion's
// piece starts where the previous one of that buffer ended, and the
// buffer goes back to the kernel once the kernel is done with it (a
// completion without CQEFBufMore) and every piece of it was given back.
type BufRing struct {
	r     *Ring
	bgid  uint16
	mask  uint16
	inc   bool
	size  int
	inUse atomic.Int64

	// mu guards the rest: pieces are given back by their holders, on
	// any goroutine, while the reaper takes new ones.
	mu      sync.Mutex
	ring    []byte // the io_uring_buf entries
	bufs    []byte // entries × size bytes
	entries []ringBuf
	state   []bufState // by buffer id
	tail    uint16     // entries published; the kernel consumes from its head
	tailW   *uint32
	pieces  int  // taken and not recycled, all buffers
	closed  bool // unregistered; bufs is unmapped when pieces reaches 0
}

// bufState is what the application knows of one buffer.
type bufState struct {
	off    uint32 // where the kernel puts the next bytes (incremental)
	pieces uint32 // pieces taken and not recycled
	done   bool   // the kernel is done with it (its last completion came)
}

// NewBufRing registers a group bgid of n buffers (a power of two, at
// most 32768) of size bytes each, all given to the kernel; each
// completion consumes a whole buffer.
func (r *Ring) NewBufRing(bgid uint16, n, size int) (*BufRing, error) {
	return r.newBufRing(bgid, n, size, false)
}

// NewBufRingIncremental is NewBufRing with buffers consumed
// incrementally (IOU_PBUF_RING_INC, Linux 6.12+): a completion takes
// only the bytes it received, so a buffer of size bytes carries many
// small messages, of many connections. A kernel without it refuses the
// registration with EINVAL.
func (r *Ring) NewBufRingIncremental(bgid uint16, n, size int) (*BufRing, error) {
	return r.newBufRing(bgid, n, size, true)
}

func (r *Ring) newBufRing(bgid uint16, n, size int, inc bool) (*BufRing, error) {
	// On 32-bit, n buffers of size bytes may not fit an int: the
	// mapping would get the wrapped size, the kernel the full one.
	if n <= 0 || n > 1<<15 || n&(n-1) != 0 || size <= 0 || int64(size) > 1<<31 || size > math.MaxInt/n {
		return nil, fmt.Errorf("uring: buffer ring of %d buffers of %d bytes: %w", n, size, unix.EINVAL)
	}
	if r.fd < 0 {
		return nil, ErrClosed
	}
	b := &BufRing{r: r, bgid: bgid, mask: uint16(n - 1), size: size, inc: inc, state: make([]bufState, n)}
	var err error
	if b.ring, err = anon(n * int(unsafe.Sizeof(ringBuf{}))); err != nil {
		return nil, err
	}
	if b.bufs, err = anon(n * size); err != nil {
		unix.Munmap(b.ring)
		return nil, err
	}
	b.entries = unsafe.Slice((*ringBuf)(unsafe.Pointer(&b.ring[0])), n)
	// The tail is the last 16 bits of entry 0, which the kernel only
	// reads: it is published by storing the aligned word holding it and
	// entry 0's bid, both written only here. (An incremental ring's
	// kernel writes an entry's addr and len, never its bid.)
	b.tailW = (*uint32)(unsafe.Pointer(&b.ring[12]))
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&b.ring[0]))), ringEntries: uint32(n), bgid: bgid}
	if inc {
		reg.flags = pbufRingInc
	}
	if err := register(r.fd, registerPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		b.unmap()
		return nil, err
	}
	for i := range n {
		b.put(uint16(i))
	}
	b.publish()
	return b, nil
}

func anon(size int) ([]byte, error) {
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	return m, nil
}

// Group returns the buffer group id.
func (b *BufRing) Group() uint16 { return b.bgid }

// Size returns the size of each buffer.
func (b *BufRing) Size() int { return b.size }

// Incremental reports whether buffers are consumed incrementally.
func (b *BufRing) Incremental() bool { return b.inc }

// InUse returns how many buffers hold pieces that were taken and not
// recycled yet.
func (b *BufRing) InUse() int { return int(b.inUse.Load()) }

// Take returns the bytes a completion placed in a buffer of this group
// and the buffer's id, a piece that its holder gives back with
// Recycle(id); ok is false when c carries no buffer. Every completion
// that carries a buffer must be taken, in the order reaped: on an
// incremental ring the next piece's place depends on it.
func (b *BufRing) Take(c CQE) (data []byte, id uint16, ok bool) {
	id, ok = c.BufferID()
	if !ok {
		return nil, 0, false
	}
	id &= b.mask
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, 0, false
	}
	st := &b.state[id]
	n := max(int(c.Res), 0)
	start := int(id)*b.size + int(st.off)
	end := int(id+1) * b.size
	data = b.bufs[start:min(start+n, end):end]
	if b.inc {
		st.off += uint32(len(data))
	}
	st.done = !c.BufMore()
	if st.pieces == 0 {
		b.inUse.Add(1)
	}
	st.pieces++
	b.pieces++
	return data, id, true
}

// Recycle gives back a piece of buffer id; the buffer goes back to the
// kernel when it was the last piece of a buffer the kernel is done with.
// After Close, the last piece given back unmaps the buffers.
func (b *BufRing) Recycle(id uint16) {
	id &= b.mask
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == nil {
		return // unmapped: every piece was given back
	}
	st := &b.state[id]
	if st.pieces == 0 {
		return // not taken: nothing to give back
	}
	st.pieces--
	b.pieces--
	if b.closed {
		if b.pieces == 0 {
			b.unmapBufs()
		}
		return
	}
	if st.pieces > 0 {
		return
	}
	b.inUse.Add(-1)
	if st.done {
		*st = bufState{}
		b.put(id)
		b.publish()
	}
}

// put writes buffer id, whole, at the tail, unpublished.
func (b *BufRing) put(id uint16) {
	e := &b.entries[b.tail&b.mask]
	e.addr = uint64(uintptr(unsafe.Pointer(&b.bufs[int(id&b.mask)*b.size])))
	e.len = uint32(b.size)
	e.bid = id
	b.tail++
}

// publish makes the buffers put so far visible to the kernel (release).
func (b *BufRing) publish() {
	w := atomic.LoadUint32(b.tailW)
	*(*uint16)(unsafe.Add(unsafe.Pointer(&w), 2)) = b.tail
	atomic.StoreUint32(b.tailW, w)
}

// Close unregisters the group and unmaps its ring. No operation using it
// may be in flight. The buffers stay mapped while pieces taken from them
// have not been given back, so that a holder's slices stay valid: the
// last Recycle unmaps them. When the kernel refuses the unregistration
// (EEXIST: a single-issuer ring, and not its issuer's thread) nothing is
// unmapped and the error is returned; Close may be called again.
func (b *BufRing) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.ring == nil {
		return nil
	}
	var err error
	if b.r.fd >= 0 {
		reg := bufReg{bgid: b.bgid}
		if err = register(b.r.fd, unregisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
			// Still registered (EEXIST: not the single issuer's
			// thread): the kernel may yet write into the buffers, so
			// they stay mapped, and a later Close may try again.
			return err
		}
	}
	b.closed = true
	unix.Munmap(b.ring)
	b.ring, b.entries = nil, nil
	if b.pieces == 0 {
		b.unmapBufs()
	}
	return err
}

// Mapped reports whether the buffers are still mapped: until Close, and
// after it while pieces are held.
func (b *BufRing) Mapped() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bufs != nil
}

// unmap undoes a failed registration. Under mu, or before b is shared.
func (b *BufRing) unmap() {
	unix.Munmap(b.ring)
	b.ring, b.entries = nil, nil
	b.unmapBufs()
}

// unmapBufs frees the buffers. Under mu.
func (b *BufRing) unmapBufs() {
	unix.Munmap(b.bufs)
	b.bufs, b.state = nil, nil
	b.inUse.Store(0)
}
