package testutil

import "runtime"

// HeapInUse returns the bytes of live heap objects after two full
// collections: the second empties what sync.Pools kept through the
// first, so that buffers pooled by earlier tests do not count.
func HeapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
