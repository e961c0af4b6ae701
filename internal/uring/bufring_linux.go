package uring

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING): a group
// of equal buffers that the kernel picks from for operations prepared
// with SQEBufferSelect. The ring and the buffers are anonymous mappings,
// off the Go heap, so a buffer can be lent out while its bytes are
// referenced by plain slices. Its methods are for the ring's goroutine.
type BufRing struct {
	r       *Ring
	bgid    uint16
	mask    uint16
	size    int
	ring    []byte // the io_uring_buf entries
	bufs    []byte // entries × size bytes
	entries []ringBuf
	tail    uint16 // entries published; the kernel consumes from its head
	tailW   *uint32
	inUse   atomic.Int64
}

// NewBufRing registers a group bgid of n buffers (a power of two, at
// most 32768) of size bytes each, all given to the kernel.
func (r *Ring) NewBufRing(bgid uint16, n, size int) (*BufRing, error) {
	if n <= 0 || n > 1<<15 || n&(n-1) != 0 || size <= 0 {
		return nil, fmt.Errorf("uring: buffer ring of %d buffers of %d bytes: %w", n, size, unix.EINVAL)
	}
	if r.fd < 0 {
		return nil, ErrClosed
	}
	b := &BufRing{r: r, bgid: bgid, mask: uint16(n - 1), size: size}
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
	// entry 0's bid, both written only here.
	b.tailW = (*uint32)(unsafe.Pointer(&b.ring[12]))
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&b.ring[0]))), ringEntries: uint32(n), bgid: bgid}
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

// InUse returns how many buffers completions handed out that were not
// recycled yet.
func (b *BufRing) InUse() int { return int(b.inUse.Load()) }

// Take returns the bytes a completion placed in a buffer of this group
// and its id, and counts the buffer in use until Recycle; ok is false
// when c carries no buffer.
func (b *BufRing) Take(c CQE) (data []byte, id uint16, ok bool) {
	id, ok = c.BufferID()
	if !ok {
		return nil, 0, false
	}
	b.inUse.Add(1)
	n := max(int(c.Res), 0)
	off := int(id&b.mask) * b.size
	return b.bufs[off : off+min(n, b.size) : off+b.size], id, true
}

// Recycle gives buffer id back to the kernel.
func (b *BufRing) Recycle(id uint16) {
	b.put(id)
	b.publish()
	b.inUse.Add(-1)
}

// put writes buffer id at the tail, unpublished.
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

// Close unregisters the group and unmaps its memory. No operation using
// it may be in flight, and no slice of Take may be used afterwards.
func (b *BufRing) Close() error {
	if b.ring == nil {
		return nil
	}
	var err error
	if b.r.fd >= 0 {
		reg := bufReg{bgid: b.bgid}
		err = register(b.r.fd, unregisterPbufRing, unsafe.Pointer(&reg), 1)
	}
	b.unmap()
	return err
}

func (b *BufRing) unmap() {
	unix.Munmap(b.bufs)
	unix.Munmap(b.ring)
	b.ring, b.bufs, b.entries = nil, nil, nil
}
