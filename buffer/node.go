package buffer

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/valyala/bytebufferpool"
)

// Node sizing. A node holds at least minNodeSize bytes, so a small write
// never pays for a pool round trip per byte run, and at most maxNodeSize
// bytes from a pool. Sizes in between are rounded up to a power of two, one
// bytebufferpool.Pool per size class, so a pooled buffer always has exactly
// its class's capacity (bytebufferpool calibrates on length; one size per
// pool keeps it from ever discarding our buffers). A contiguous Malloc larger
// than maxNodeSize gets an exact, unpooled slice that the GC reclaims: parking
// multi-megabyte buffers in a pool would pin memory for rare requests.
const (
	minNodeShift = 12
	minNodeSize  = 1 << minNodeShift // 4 KiB
	maxNodeShift = 20
	maxNodeSize  = 1 << maxNodeShift // 1 MiB
	numClasses   = maxNodeShift - minNodeShift + 1
)

// bufPools holds one byte pool per size class; class c holds buffers of
// minNodeSize<<c bytes. The zero Pool is ready to use.
var bufPools [numClasses]bytebufferpool.Pool

// nodePool recycles node structs, so the steady state allocates nothing.
// A pooled node has refs == 1, ready for its next owner: the common free
// path then needs no atomic write at all (see freeNode).
var nodePool = sync.Pool{New: func() any {
	nd := new(node)
	nd.refs.Store(1)
	return nd
}}

// liveNodes counts node structs taken from nodePool and not yet returned.
// Tests use it to prove that nodes come back; it is touched only when a node
// is allocated or freed, never on the read or write path.
var liveNodes atomic.Int64

// node is one element of a LinkBuffer's list.
//
// A node either owns its bytes (origin == nil; refs counts the list that
// holds it plus every view of it) or is a view of another node's bytes
// (origin != nil; it holds one reference on origin). Views are made by Slice
// and Append, so nodes can be shared between buffers without copying.
//
// Within one buffer the consumer owns off, the producer owns wp, and end is
// the hand-over point between them: bytes [off, end) are published and
// readable, [end, wp) are written but not yet published (Flush stores wp into
// end). end only grows, and only the producer writes it. refs is 1 while the
// node is pooled or held by one owner only.
type node struct {
	buf    []byte // the whole backing array, len == cap; shared by views
	bb     *bytebufferpool.ByteBuffer
	origin *node
	next   *node // written with the buffer's mutex held
	off    int   // consumer: next unread byte
	wp     int   // producer: end of written bytes
	end    int64 // published end: atomic once the node is linked (see limit)
	refs   atomic.Int32
	class  int8 // size class of bb, or -1 when buf is not pooled
	sealed bool // the producer will never publish into it again (mutex held)
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

// newNode returns an empty node owning at least n bytes.
func newNode(n int) *node {
	size, c := sizeClass(n)
	nd := nodePool.Get().(*node)
	liveNodes.Add(1)
	nd.class = int8(c)
	if c < 0 {
		nd.buf = make([]byte, size)
	} else {
		bb := bufPools[c].Get()
		if cap(bb.B) < size {
			bb.B = make([]byte, size)
		}
		nd.bb = bb
		nd.buf = bb.B[:size:size]
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
	v := nodePool.Get().(*node)
	liveNodes.Add(1)
	v.origin = root
	v.buf = src.buf
	v.class = -1
	v.off, v.wp = off, wp
	return v
}

// freeNode drops a node that is no longer in any list. A view gives back
// its struct at once and its reference on the origin; an owning node gives
// its bytes back when the last reference goes.
func freeNode(nd *node) {
	root := nd
	if nd.origin != nil {
		root = nd.origin
		nd.reset()
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
	if root.bb != nil {
		// bytebufferpool sorts buffers by length: hand the full length back.
		root.bb.B = root.buf[:len(root.buf)]
		bufPools[root.class].Put(root.bb)
	}
	root.reset()
}

// freeChain frees a list of unlinked nodes joined by next.
func freeChain(nd *node) {
	for nd != nil {
		next := nd.next
		freeNode(nd)
		nd = next
	}
}

// reset clears every field and returns the struct to nodePool.
func (nd *node) reset() {
	nd.buf, nd.bb, nd.origin, nd.next = nil, nil, nil, nil
	nd.off, nd.wp, nd.end = 0, 0, 0
	nd.class, nd.sealed = 0, false
	nodePool.Put(nd)
	liveNodes.Add(-1)
}

// readable returns the published, unread bytes of nd.
func (nd *node) readable() []byte {
	return nd.buf[nd.off:nd.limit()]
}

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
