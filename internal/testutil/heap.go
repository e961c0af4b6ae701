package testutil

import "runtime"

// HeapInUse returns the bytes of heap in use after a collection, so that
// garbage does not count.
func HeapInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse)
}
