package netpoll

import "sync/atomic"

// fdState is the lifetime word of one connection's descriptor, in the
// spirit of internal/poll's fdMutex but reduced to what netpoll needs:
// Read and Write serialization is done by ordinary mutexes on Conn, so
// this word only answers "may I use the fd?" and "am I the last user?".
//
// Layout of v:
//
//	bit 0      closed: Close has begun; no new reference may be taken
//	bits 1-63  refs: one "open" reference held from registration until
//	           finishClose (see the close path below), plus one per
//	           goroutine that is (or may be about to be) inside a
//	           syscall on the fd or touching its buffers: the poller
//	           while it reads or flushes, a Read/Write/Reader call, a
//	           running handler.
//
// Transitions (each in exactly one method below):
//
//	open, refs=1 ──incref──▶ open, refs=n ──decref──▶ open, refs=n-1
//	open, refs=n ──markClosed──▶ closed, refs=n (incref fails from now on)
//	closed, refs=n ──increfClosed──▶ closed, refs=n+1 (lingering, or a
//	                          holder of a reference handing one on)
//	closed, refs=1 ──decref──▶ closed, refs=0: the caller destroys
//	                          (close(fd), free the slot)
//
// Because incref fails once closed, refs reaches zero exactly once, so
// exactly one goroutine destroys, and it does so when no other goroutine
// can be inside a syscall on the fd.
//
// The close path of a Conn, from any goroutine's Close (or the poller's
// close of a broken, idle or finished connection) to the free slot:
//
//	open                 fd usable; refs >= 1 (the open reference)
//	  │ closeWith: markClosed wins (once); the reason is recorded;
//	  │ blocked readers and writers are woken and see net.ErrClosed;
//	  │ OnDisconnect is scheduled after the last handler run
//	  ▼
//	closing              closed bit set: incref fails, so no new
//	  │                  syscall starts; calls already in keep their refs
//	  │ output queued, registered, not broken: linger — fLinger is
//	  │ set and the poller sends the rest through increfClosed, until
//	  │ the output is gone or lingerTimeout (or the shorter write
//	  │ timeout) passes; otherwise go on at once
//	  │ finishClose (once, fLingerDone)
//	  ▼
//	deregistered         deregister: EPOLL_CTL_DEL under emu, fRegistered
//	  │                  cleared; no new event can name the slot, and
//	  │                  queued ones are dropped as stale later. Then the
//	  │                  open reference is dropped
//	  │ the last decref, by whichever goroutine holds it
//	  ▼
//	destroyed            destroy: close(fd); the registry slot is freed
//	                     and its generation bumped; both buffers freed
//
// A connection may be deregistered before it is closed (a broken
// accept-mode connection, or one hung up in both directions), so that a
// level-triggered registration stops reporting; deregister runs once
// either way, and the path above then skips that step.
type fdState struct {
	v atomic.Uint64
}

const (
	fdClosed = 1 << 0
	fdRef    = 1 << 1
)

// init sets the state to open with the registration's reference.
func (s *fdState) init() { s.v.Store(fdRef) }

// incref takes a reference; it fails once the fd is closed, and on the
// zero state of a Conn that no constructor made (an open one holds its
// open reference until markClosed).
func (s *fdState) incref() bool {
	for {
		old := s.v.Load()
		if old&fdClosed != 0 || old == 0 {
			return false
		}
		if s.v.CompareAndSwap(old, old+fdRef) {
			return true
		}
	}
}

// decref drops a reference and reports whether the caller must destroy
// the fd (it was closed and this was the last reference).
func (s *fdState) decref() bool {
	v := s.v.Add(^uint64(fdRef - 1))
	return v == fdClosed
}

// markClosed sets the closed bit; it reports false if it was already
// set. The caller still owns the open reference and must decref it.
func (s *fdState) markClosed() bool {
	for {
		old := s.v.Load()
		if old&fdClosed != 0 || old == 0 {
			return false
		}
		if s.v.CompareAndSwap(old, old|fdClosed) {
			return true
		}
	}
}

// closed reports whether Close has begun (or the state is a zero
// Conn's, which has no descriptor).
func (s *fdState) closed() bool { v := s.v.Load(); return v&fdClosed != 0 || v == 0 }

// increfClosed takes a reference even though the fd is closed, as long
// as the last reference has not been dropped. The poller uses it to
// finish sending a lingering connection's output: the open reference,
// held until the linger ends, keeps refs above zero meanwhile. A holder
// of a reference uses it to take one more for another goroutine
// (queueFlush): its own keeps refs above zero, so it cannot fail.
func (s *fdState) increfClosed() bool {
	for {
		old := s.v.Load()
		if old < fdRef {
			return false
		}
		if s.v.CompareAndSwap(old, old+fdRef) {
			return true
		}
	}
}
