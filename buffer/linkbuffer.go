package buffer

import (
	"sync"
	"sync/atomic"
)

// LinkBuffer is a byte queue made of a linked list of pooled nodes. See the
// package documentation for the concurrency rules and the lifetime of the
// slices it returns.
//
// The zero value is an empty buffer ready to use.
type LinkBuffer struct {
	// length counts published, unread bytes (the bits under batchOpen), and
	// has batchOpen set while the producer has a write batch open. The
	// producer adds when it publishes (after linking and filling the nodes)
	// and the consumer subtracts as it reads: its atomic operations order the
	// node contents and links written by one side before the other side
	// looks at them. Keeping the batch flag in the same word lets Flush
	// publish the bytes and close the batch with one atomic add, and no lock.
	length atomic.Int64

	// mu guards every change to the shape of the list: head, tail, the next
	// links, sealed, the opening of a batch and the transition to closed.
	// The byte-level read and write paths and the common Flush do not take
	// it, nor does a batch on a list the producer owns (see ownedBit).
	mu sync.Mutex

	// head is the first node not yet released. The consumer reads it without
	// mu only after seeing length > 0: the producer set it, under mu, before
	// publishing the bytes behind it, and nobody else changes it until the
	// consumer releases those bytes.
	head *node
	read *node // consumer: node holding the next unread byte; nil = head
	tail *node // last node; producer-owned while writing is set

	// Producer state of the current write batch (between the first write and
	// Flush). mark is the tail when the batch began: nodes after it are new.
	// A Close under mu reads it while the batch is open, so Flush leaves it
	// set and the consumer clears it, under mu, once the batch is closed.
	mark *node
	book *node // first node of the outstanding Book, if any

	cache *node // consumer: copies made by reads that cross nodes

	// pending counts the bytes written in this batch, not yet published;
	// a batch holds at most MaxBatch bytes, so 32 bits hold it (the
	// space an outstanding Book handed out is not kept: BookAck counts it
	// again from the booked nodes). Both keep a LinkBuffer, two per
	// connection, in 72 bytes.
	pending int32

	// freeable is set by the consumer when it has drained a node, so that
	// Release skips the lock when there is nothing to give back (a handler
	// that reads part of a node and releases after each message).
	freeable bool

	// writing is the producer's own copy of batchOpen; the consumer must
	// not read it (it reads batchOpen in length, with mu held).
	writing bool

	// malloced is set by the producer when Malloc hands out space in the
	// open batch, and cleared when the batch ends: Disown then knows
	// that a slice of the batch's nodes may still be written into.
	malloced bool

	// lent is set by the consumer when it hands out a slice of the
	// nodes (Next, Peek, Until, GetBytes) and cleared by its Release,
	// after which those slices are invalid. Close and Free, which the
	// owner calls when no consumer call runs, leave a lent list to the
	// garbage collector instead of the pool (abandonChain): a holder of
	// such a slice racing a Close from another goroutine must not see
	// the node refilled with another buffer's bytes, nor write into them.
	lent bool
}

// batchOpen is the bit of length that is set while the producer has a write
// batch open: the consumer must then not free the tail nor any node of the
// batch. The producer sets it with mu held (so that a Release or Close that
// holds mu sees a stable "open"), and clears it without mu in the same add
// that publishes the batch's bytes (see Flush).
//
// closedBit is set, for good, by Close and Free. It lives in length rather
// than in a field of its own to keep a LinkBuffer (two per connection) in
// 72 bytes; counts stay far below it.
//
// ownedBit is set while the list holds no node the consumer may touch:
// it is empty, or holds only the nodes of a batch the producer opened
// while the bit was set (an owned batch). The producer then opens a
// batch, and links, unlinks and frees its nodes, without mu and without
// batchOpen (reserve, Flush), and the consumer, seeing the bit, leaves
// head, tail and mark alone (Release, Close: an owned batch is the
// producer's to free, as an open one is). Only a Release that leaves
// the list empty (under mu, with no batch open) and a Flush that leaves
// it empty (under mu) set it; the add that publishes an owned batch's
// bytes clears it, and so does a batch opened under mu. Only the
// producer clears it, and the consumer sets it only while no batch is
// open, so during a batch the producer reads which kind it is from the
// bit. An echo's input and its answer each go through an empty buffer
// per message: the bit saves the mutex and the atomic on each batch's
// open, and on the drop of an answer that was sent from its node.
const (
	batchOpen  = 1 << 62
	closedBit  = 1 << 61
	ownedBit   = 1 << 60
	lengthMask = ownedBit - 1
)

// isClosed reports whether Close or Free has run.
func (b *LinkBuffer) isClosed() bool { return b.length.Load()&closedBit != 0 }

// New returns an empty LinkBuffer. It holds no node until the first write.
func New() *LinkBuffer {
	return new(LinkBuffer)
}

// Len returns the number of published bytes not yet read. It is safe to
// call from the producer as well as the consumer; seen from the producer it
// may lag behind concurrent reads.
func (b *LinkBuffer) Len() int {
	if b.isClosed() {
		return 0 // a Flush racing with Close may publish for a moment
	}
	return int(b.length.Load() & lengthMask)
}

// Release gives back to the pool every node whose bytes have all been read
// and that is no longer referenced by a Slice, and frees the copies made by
// reads that crossed nodes. Slices returned by Next, Peek, Until and GetBytes
// before Release must not be used after it. An empty buffer holds no node
// after Release, unless the producer has a write batch open.
//
// Release belongs to the consumer side.
func (b *LinkBuffer) Release() error {
	if b.isClosed() {
		return ErrClosed
	}
	b.lent = false
	if !b.freeable && b.cache == nil {
		return nil
	}
	b.mu.Lock()
	// A batch cannot open while mu is held, unless ownedBit is set, but
	// it may close (Flush clears batchOpen without mu): seeing it open is
	// only conservative.
	v := b.length.Load()
	if v&ownedBit != 0 {
		// The list is the producer's (see ownedBit): nothing in it was
		// published, so nothing is for the consumer to free.
		cache := b.cache
		b.cache = nil
		b.mu.Unlock()
		freeChain(cache)
		return nil
	}
	writing := v&batchOpen != 0
	if !writing {
		b.mark = nil // left by Flush; it must not pin a freed node
	}
	var freed, last *node
	nd := b.head
	for nd != nil {
		// Look at the producer's side first: while a batch is open Flush
		// may store the end of its new nodes without an atomic (see Flush).
		if !nd.sealed && (nd != b.tail || writing) {
			break // the producer may still publish into it
		}
		if writing && nd == b.mark {
			// The open batch starts at its mark (firstOfBatch, Flush,
			// Close): even drained and sealed (a Slice's last view),
			// the mark stays until the batch closes.
			break
		}
		if nd.off != nd.limit() {
			break // unread bytes
		}
		next := nd.next
		if nd == b.read {
			b.read = nil
		}
		if nd == b.tail {
			b.tail = nil
		}
		if freed == nil {
			freed = nd
		} else {
			last.next = nd
		}
		last = nd
		nd = next
	}
	if last != nil {
		// Only now: the producer reads head while its batch is open on an
		// empty list, and nothing was freed then.
		last.next = nil
		b.head = nd
	}
	// A drained head kept for the producer must be looked at again; one
	// held back by an open batch is looked at again without reading it.
	b.freeable = nd != nil && (writing || nd.off == nd.limit())
	cache := b.cache
	b.cache = nil
	if b.head == nil && !writing {
		// Last: from here on the producer may link without mu.
		b.length.Or(ownedBit)
	}
	b.mu.Unlock()
	freeChain(freed)
	freeChain(cache)
	return nil
}

// Close frees every node and makes every later call return ErrClosed.
// Slices obtained from Next, Peek and the like become invalid; buffers
// returned by Slice stay valid. Close belongs to the consumer side: it must
// not run at the same time as another consumer call, but it may overlap a
// producer's write batch, whose nodes are freed by the producer's next
// Flush (or BookAck), which then returns ErrClosed.
func (b *LinkBuffer) Close() error {
	b.mu.Lock()
	if b.isClosed() {
		b.mu.Unlock()
		return ErrClosed
	}
	// From this Or on, a Flush that closes the batch sees closedBit and
	// frees the batch itself (see endBatch).
	v := b.length.Or(closedBit)
	var freed *node
	if v&ownedBit != 0 {
		// The list is the producer's: empty, or an owned batch, which
		// its Flush frees as it frees an open one (see endBatch).
	} else if v&batchOpen == 0 {
		freed = b.head
		b.head, b.tail, b.mark = nil, nil, nil
	} else if b.mark != nil && b.mark != b.head {
		// Free what precedes the producer's batch; keep the batch itself.
		freed = b.head
		nd := b.head
		for nd.next != b.mark {
			nd = nd.next
		}
		nd.next = nil
		b.head = b.mark
	}
	b.read = nil
	b.length.Add(-(v & lengthMask)) // keeps batchOpen for Flush to clear
	cache, lent := b.cache, b.lent
	// lent stays set for the nodes left to the producer's batch: its
	// first, the tail when the batch began, may hold bytes the consumer
	// took with Next, and flushClosed must not pool it either.
	b.cache, b.lent = nil, lent && v&batchOpen != 0
	b.mu.Unlock()
	b.dropChain(freed, lent)
	b.dropChain(cache, lent)
	return nil
}

// dropChain gives a chain taken off the list back to the pools, or, when
// the consumer may still hold slices of it (lent), to the garbage
// collector.
func (b *LinkBuffer) dropChain(nd *node, lent bool) {
	if lent {
		abandonChain(nd)
	} else {
		freeChain(nd)
	}
}

// Free is Close for a buffer that neither side will touch again: it also
// frees the producer's open write batch (written, unflushed bytes) and an
// outstanding Book, which Close must leave to a producer that may still be
// running. Call it only when no producer or consumer call can be in
// progress or follow, as netpoll does once the last reference to a
// connection is gone. Free after Close frees what Close had to leave;
// Free twice is harmless.
func (b *LinkBuffer) Free() {
	b.mu.Lock()
	freed, cache, lent := b.head, b.cache, b.lent
	b.head, b.tail, b.read, b.mark, b.book, b.cache = nil, nil, nil, nil, nil, nil
	b.pending = 0
	b.writing, b.freeable, b.lent, b.malloced = false, false, false, false
	b.length.Store(closedBit)
	b.mu.Unlock()
	b.dropChain(freed, lent)
	b.dropChain(cache, lent)
}

// Slice returns a new LinkBuffer holding the next n readable bytes and
// advances past them. The new buffer shares the nodes (they are reference
// counted), copies nothing, and stays valid after this buffer releases or
// closes them: a request body can be handed to another goroutine, which then
// owns the new buffer as its consumer and must Release or Close it.
func (b *LinkBuffer) Slice(n int) (*LinkBuffer, error) {
	if err := b.check(n); err != nil {
		return nil, err
	}
	s := new(LinkBuffer)
	if n == 0 {
		return s, nil
	}
	first, last := b.takeViews(n, true)
	s.head, s.tail = first, last
	s.length.Store(int64(n))
	return s, nil
}

// takeViews advances past the next n readable bytes (n <= Len, n > 0) and
// returns them as a chain of views. Published views are readable at once
// (and sealed); unpublished ones wait for their new owner's Flush.
func (b *LinkBuffer) takeViews(n int, published bool) (first, last *node) {
	r := b.cursor()
	left := n
	for {
		k := min(r.limit()-r.off, left)
		if k > 0 {
			v := newView(r, r.off, r.off+k)
			if published {
				v.end = int64(v.wp) // v is not shared yet
				v.sealed = true
			} else {
				v.end = int64(v.off)
			}
			if first == nil {
				first = v
			} else {
				last.next = v
			}
			last = v
			r.off += k
			left -= k
		}
		if left == 0 {
			break
		}
		r = r.next
		b.freeable = true
	}
	b.drained(r)
	b.read = r
	b.length.Add(int64(-n))
	return first, last
}
