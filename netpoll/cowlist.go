package netpoll

import (
	"sync"
	"sync/atomic"
)

// cowList is a list that readers take with one atomic load and no lock:
// it is replaced, never changed in place. For lists that change far
// more rarely than they are read (pollers and groups as they start and
// stop, read by waits and dials).
type cowList[T comparable] struct {
	mu   sync.Mutex // orders the copies
	list atomic.Pointer[[]T]
}

// load returns the list as it is now (nil when empty). The caller must
// not change it.
func (l *cowList[T]) load() []T {
	if p := l.list.Load(); p != nil {
		return *p
	}
	return nil
}

// add appends x.
func (l *cowList[T]) add(x T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	xs := append(append([]T(nil), l.load()...), x)
	l.list.Store(&xs)
}

// remove drops every entry equal to x, if any.
func (l *cowList[T]) remove(x T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var xs []T
	for _, y := range l.load() {
		if y != x {
			xs = append(xs, y)
		}
	}
	if len(xs) == 0 {
		l.list.Store(nil)
		return
	}
	l.list.Store(&xs)
}
