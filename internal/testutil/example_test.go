package testutil_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// WaitFor polls a condition with a bound instead of sleeping a fixed
// time and hoping.
func ExampleWaitFor() {
	var ready atomic.Bool
	go func() { time.Sleep(20 * time.Millisecond); ready.Store(true) }()
	fmt.Println(testutil.WaitFor(5*time.Second, ready.Load))
	// Output: true
}

// Tile checks what concurrent readers of one stream got: contiguous runs
// that together are the stream.
func ExampleTile() {
	stream := testutil.RandomBytes(7, 100)
	good := [][]byte{stream[40:], stream[:10], stream[10:40]}
	lost := [][]byte{stream[:10], stream[11:]}
	fmt.Println(testutil.Tile(stream, good))
	fmt.Println(testutil.Tile(stream, lost))
	// Output:
	// <nil>
	// pieces hold 99 bytes, the stream 100
}
