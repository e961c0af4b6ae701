package buffer

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/valyala/bytebufferpool"
)

// Node sizing. A node holds at least minNodeSize bytes, so a small write
// never pays for a pool round trip per byte run, and at most maxNodeSize
// bytes from a pool. Sizes in between are rounded up to a power of two, one
// pool per size class, so a pooled node always has exactly its class's
// capacity. A contiguous Malloc larger than maxNodeSize gets an exact,
// unpooled slice that the GC reclaims: parking multi-megabyte buffers in a
// pool would pin memory for rare requests.
const (
	minNodeShift = 12
	minNodeSize  = 1 << minNodeShift // 4 KiB
	maxNodeShift = 20
	maxNodeSize  = 1 << maxNodeShift // 1 MiB
	numClasses   = maxNodeShift - minNodeShift + 1
)

// bytePools gives new nodes their bytes, one bytebufferpool.Pool per size
// class (class c: minNodeSize<<c bytes). Freed nodes keep their bytes
// (wholePools), so bytePools serves only nodes made when wholePools of
// the class is empty. The zero Pool is ready to use.
var bytePools [numClasses]bytePool

// bytePool is a bytebufferpool.Pool aligned to 8 bytes: the Pool's
// counters are 64-bit words it updates atomically, which 386, ARM and
// 32-bit MIPS can do only at 8-byte aligned addresses, and an array of
// bare Pools is aligned to 4 there (the empty array of an atomic.Int64
// raises the alignment without taking space).
type bytePool struct {
	_ [0]atomic.Int64
	bytebufferpool.Pool
}

// barePool recycles node structs without bytes: views and nodes of
// foreign or unpooled bytes. A node made with pooled bytes comes from it
// too, the first time.
var barePool sync.Pool

// wholePools recycles owning nodes with their bytes, one pool per lane and
// size class. The bytes come from bytePools when a node is first made; a
// freed node keeps them, so a message that takes a node and frees it costs
// one sync.Pool round trip rather than two, and no Put on bytebufferpool,
// whose calibration counter is an atomic add on a line every core shares.
// Like every sync.Pool, the garbage collector empties it.
var wholePools [numLanes][numClasses]sync.Pool

// Pool lanes. A node goes back to the lane it came from. Nodes booked for
// reads (Book) come from laneRead, all others from laneWrite: an echo
// takes a node for the input and one for the answer before it frees
// either, and in one pool the second Get and the second Put of each
// message then missed the pool's per-P private slot and went to its
// shared queue (a CAS or a store each, and about 130 instructions per
// message, counted with bench/scripts/callgrind.sh). In two lanes each
// pool sees its Get and Put alternate.
const (
	laneRead = iota
	laneWrite
	numLanes
)

// laneMask makes a lane index that needs no bounds check. numLanes is a
// power of two (the index below is out of range otherwise).
const laneMask = numLanes - 1

var _ = [1]struct{}{}[numLanes&laneMask]

// nodeAccounting turns on liveNodes. It is off by default, so a
// production node costs one predictable load rather than an atomic add on
// a counter that every connection of every core would share.
var nodeAccounting atomic.Bool

// liveNodes counts node structs taken from the pools and not yet returned,
// while nodeAccounting is on.
var liveNodes atomic.Int64

// SetNodeAccounting turns the count behind LiveNodes on or off and returns
// the previous setting. It is meant for tests and leak checks, which turn
// it on once, before any buffer is used (a node taken while it is off and
// returned while it is on makes the count drift below zero). Counting
// costs an atomic add on one process-wide counter per node taken or
// returned, so it is off by default.
func SetNodeAccounting(on bool) bool { return nodeAccounting.Swap(on) }

// LiveNodes returns the number of nodes taken from the pools and not yet
// given back, counted while SetNodeAccounting is on: after every buffer is
// drained and released or closed, it returns to where it was. A write
// batch that Close found open is its producer's to free (see Close): its
// nodes are counted until the producer's Flush, and a batch whose producer
// never flushes is left to the garbage collector, counted for good.
func LiveNodes() int64 { return liveNodes.Load() }

// node is one element of a LinkBuffer's list.
//
// A node either owns its bytes (origin == nil; refs counts the list that
// holds it plus every view of it) or is a view of another node's bytes
// (origin != nil; it holds one reference on origin). Views are made by Slice
// and Append, so nodes can be shared between buffers without copying. An
// owning node's bytes come from a pool, from make, or from a Releaser
// (rel != nil, WriteForeign), which is told when the last reference goes.
//
// Within one buffer the consumer owns off, the producer owns wp, and end is
// the hand-over point between them: bytes [off, end) are published and
// readable, [end, wp) are written but not yet published (Flush stores wp into
// end). end only grows, and only the producer writes it. refs is 1 while the
// node is pooled or held by one owner only.
type node struct {
	buf []byte // the whole backing array, len == cap; shared by views
	// bb owns buf when it came from bytePools. Atomic: abandonNode clears
	// it on a node shared with other buffers, whose owners may abandon
	// or free their references on other goroutines at the same time.
	bb     atomic.Pointer[bytebufferpool.ByteBuffer]
	origin *node
	next   *node // written with the buffer's mutex held
	off    int   // consumer: next unread byte
	wp     int   // producer: end of written bytes
	end    int64 // published end: atomic once the node is linked (see limit)
	refs   atomic.Int32
	rel    Releaser // owner of buf when it is foreign (WriteForeign)
	tag    uintptr  // rel's tag for buf
	class  int8     // pool class of buf, or -1 (a view, unpooled or foreign bytes)
	lane   uint8    // wholePools lane of a node with pooled bytes
	sealed bool     // the producer will never publish into it again (mutex held)
}

// sizeClass returns the capacity and pool class of a node that must hold n
// contiguous bytes; class is -1 for a size above maxNodeSize.
func sizeClass(n int) (size, class int) {
	if n <= minNodeSize {
		return minNodeSize, 0
	}
	if n > maxNodeSize {
		return n, -1
	}
	c := bits.Len(uint(n-1)) - minNodeShift
	return minNodeSize << c, c
}

// newNode returns an empty node owning at least n bytes, from lane's pools.
func newNode(n int, lane uint8) *node {
	size, c := sizeClass(n)
	var nd *node
	if c >= 0 {
		nd, _ = wholePools[lane&laneMask][c].Get().(*node)
	}
	if nd == nil {
		nd = bareNode()
		if c >= 0 {
			bb := bytePools[c].Get()
			if cap(bb.B) < size {
				bb.B = make([]byte, size)
			}
			nd.bb.Store(bb)
			nd.buf, nd.class, nd.lane = bb.B[:size], int8(c), lane
		} else {
			nd.buf = make([]byte, size)
		}
	}
	if nodeAccounting.Load() {
		liveNodes.Add(1)
	}
	return nd
}

// bareNode returns a node struct without bytes, class -1.
func bareNode() *node {
	nd, _ := barePool.Get().(*node)
	if nd == nil {
		nd = &node{class: -1}
		nd.refs.Store(1)
	}
	return nd
}

// newView returns a node sharing src's bytes [off, wp). Its end is set by
// the caller: equal to wp when the bytes are readable at once (Slice), equal
// to off when they await the new owner's Flush (Append).
func newView(src *node, off, wp int) *node {
	root := src
	if src.origin != nil {
		root = src.origin
	}
	root.refs.Add(1)
	v := bareNode()
	if nodeAccounting.Load() {
		liveNodes.Add(1)
	}
	v.origin = root
	v.buf = src.buf
	v.off, v.wp = off, wp
	return v
}

// freeNode drops a node that is no longer in any list. A view gives back
// its struct at once and its reference on the origin; an owning node goes
// back to its pool, bytes and all, when the last reference goes.
func freeNode(nd *node) {
	root := nd
	if nd.origin != nil {
		root = nd.origin
		nd.recycle()
	} else {
		nd.next = nil
	}
	// refs == 1 means no view exists, and none can appear: views are made
	// only from a list holding the node or from another view.
	if root.refs.Load() != 1 {
		if root.refs.Add(-1) != 0 {
			return
		}
		root.refs.Store(1)
	}
	root.recycle()
}

// freeChain frees a list of unlinked nodes joined by next.
func freeChain(nd *node) {
	for nd != nil {
		next := nd.next
		freeNode(nd)
		nd = next
	}
}

// abandonChain is freeChain for a chain whose bytes a consumer may still
// hold slices of (see LinkBuffer.lent).
func abandonChain(nd *node) {
	for nd != nil {
		next := nd.next
		abandonNode(nd)
		nd = next
	}
}

// abandonNode is freeNode for a node whose bytes a consumer may still hold
// slices of: its pooled bytes never go back to a pool, so no other buffer
// can be given them while that holder reads or writes them; the garbage
// collector takes them once the holder lets go. The node struct is
// recycled as usual. The bytes are detached before this reference is
// dropped, so a view elsewhere that drops the last one frees the node
// without them. Foreign bytes still go back to their Releaser, when the
// last reference goes: their owner (an io_uring buffer ring) cannot lend
// them to the garbage collector, and losing them would shrink it for good.
func abandonNode(nd *node) {
	root := nd
	if nd.origin != nil {
		root = nd.origin
	}
	if root.rel == nil {
		// Only bb: recycle gives class -1 to a node without it. Other
		// buffers sharing root may abandon it at the same time.
		root.bb.Store(nil)
	}
	freeNode(nd)
}

// recycle clears the node's state and returns it to a pool: an owning
// node with pooled bytes to wholePools, bytes and all; any other to
// barePool (its foreign bytes to their Releaser).
func (nd *node) recycle() {
	nd.origin, nd.next = nil, nil
	nd.off, nd.wp, nd.end = 0, 0, 0
	nd.sealed = false
	if nodeAccounting.Load() {
		liveNodes.Add(-1)
	}
	if nd.bb.Load() != nil {
		// The struct keeps its pooled bytes (never foreign ones): the
		// next newNode of the class takes both in one pool round trip.
		wholePools[nd.lane&laneMask][nd.class].Put(nd)
		return
	}
	rel, tag := nd.rel, nd.tag
	nd.rel, nd.tag = nil, 0
	nd.buf = nil
	nd.class = -1
	barePool.Put(nd)
	if rel != nil {
		rel.ReleaseForeign(tag)
	}
}

// readable returns the published, unread bytes of nd.
func (nd *node) readable() []byte {
	return nd.buf[nd.off:nd.limit()]
}

// end is read and written with 64-bit atomics, which 386, ARM and
// 32-bit MIPS make only at 8-byte aligned addresses: node structs are
// allocated alone (so 8-byte aligned), and this fails to compile where
// end's offset in them is not a multiple of 8.
var _ = [1]struct{}{}[unsafe.Offsetof(node{}.end)%8]

// limit returns the published end of nd. The consumer reads it while the
// producer may publish more, hence the atomic load; a node is private (plain
// access) from newNode until it is linked and again after it is freed.
func (nd *node) limit() int {
	return int(atomic.LoadInt64(&nd.end))
}

// publish makes the bytes written into nd readable: called by Flush.
func (nd *node) publish() {
	atomic.StoreInt64(&nd.end, int64(nd.wp))
}
