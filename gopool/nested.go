package gopool

import (
	"reflect"
	"runtime"
)

// insideTask reports whether the calling goroutine is running a task of
// some Pool, that is, whether runJob is on its stack.
//
// Go gives goroutines no identity to look up, and the task's func() has no
// context to carry a mark, so the stack is the only place the fact is
// written. The walk costs about a microsecond; it happens only in wait,
// when the pool is already full and the caller is about to sleep.
func insideTask() bool {
	entry := reflect.ValueOf(runJob).Pointer()
	var pcs [32]uintptr
	// Skip runtime.Callers and insideTask. A goroutine's stack is finite,
	// so the loop ends when a chunk comes back short.
	for skip := 2; ; skip += len(pcs) {
		n := runtime.Callers(skip, pcs[:])
		for _, pc := range pcs[:n] {
			// pc is a return address; pc-1 lies in the calling function.
			// For an inlined call FuncForPC reports the outermost entry,
			// and runJob is noinline, so its frame is its own.
			if f := runtime.FuncForPC(pc - 1); f != nil && f.Entry() == entry {
				return true
			}
		}
		if n < len(pcs) {
			return false
		}
	}
}
