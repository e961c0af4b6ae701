package netpoll

import (
	"sync"
	"sync/atomic"
)

// The registry maps the (slot, generation) pair carried in an epoll
// event back to its *Conn. The kernel never holds a Go pointer (the GC
// cannot see it) and never a bare fd (fd numbers are reused at once).
// When a slot is freed its generation is bumped, so an event that was
// already returned by epoll_wait for the old connection no longer
// matches and is dropped.
//
// Slots live in fixed chunks that never move, so lookups need no lock.
const (
	chunkBits   = 10
	chunkSize   = 1 << chunkBits
	maxChunks   = 1 << 11 // 2M connections per poller
	maxSlots    = chunkSize * maxChunks
	slotGenMask = 1<<31 - 1 // generations fit epoll_event's int32 Pad
)

type slot struct {
	conn atomic.Pointer[Conn]
	gen  atomic.Uint32
}

type registry struct {
	chunks [maxChunks]atomic.Pointer[[chunkSize]slot]

	mu   sync.Mutex // guards free, next and limit
	free []int32
	next int32
	// limit, when above 0, holds the registry below maxSlots: tests
	// fill a poller with a few connections instead of two million.
	limit int32
}

func (r *registry) at(idx int32) *slot {
	ch := r.chunks[idx>>chunkBits].Load()
	if ch == nil {
		return nil
	}
	return &ch[idx&(chunkSize-1)]
}

// add stores c in a free slot and returns its index and generation.
func (r *registry) add(c *Conn) (int32, int32, error) {
	r.mu.Lock()
	var idx int32
	if n := len(r.free); n > 0 {
		idx = r.free[n-1]
		r.free = r.free[:n-1]
	} else {
		if r.next >= maxSlots || r.limit > 0 && r.next >= r.limit {
			r.mu.Unlock()
			return 0, 0, ErrTooManyConns
		}
		idx = r.next
		r.next++
		if r.chunks[idx>>chunkBits].Load() == nil {
			r.chunks[idx>>chunkBits].Store(new([chunkSize]slot))
		}
	}
	r.mu.Unlock()
	s := r.at(idx)
	s.conn.Store(c)
	return idx, int32(s.gen.Load() & slotGenMask), nil
}

// remove frees the slot: later lookups with the old generation fail.
func (r *registry) remove(idx int32) {
	s := r.at(idx)
	s.conn.Store(nil)
	s.gen.Add(1)
	r.mu.Lock()
	r.free = append(r.free, idx)
	r.mu.Unlock()
}

// gen returns the current generation of slot idx (valid while the
// connection in it is registered).
func (r *registry) gen(idx int32) int32 {
	return int32(r.at(idx).gen.Load() & slotGenMask)
}

// lookup returns the connection in slot idx if its generation is gen,
// or nil for a stale event. The generation is read on both sides of the
// pointer so that a slot freed and reused in between is noticed.
func (r *registry) lookup(idx, gen int32) *Conn {
	if idx < 0 || idx >= maxSlots {
		return nil
	}
	s := r.at(idx)
	if s == nil || int32(s.gen.Load()&slotGenMask) != gen {
		return nil
	}
	c := s.conn.Load()
	if int32(s.gen.Load()&slotGenMask) != gen {
		return nil
	}
	return c
}

// each calls f for every registered connection (idle sweep, Close).
func (r *registry) each(f func(c *Conn)) {
	r.mu.Lock()
	n := r.next
	r.mu.Unlock()
	for i := int32(0); i < n; i++ {
		if s := r.at(i); s != nil {
			if c := s.conn.Load(); c != nil {
				f(c)
			}
		}
	}
}
