package netpoll

import (
	"bytes"
	"runtime"
	"strconv"
)

// goid returns the calling goroutine's id, read from the first line of
// its stack trace ("goroutine 18 [running]:"). Formatting a trace
// costs microseconds, so it is asked only on paths about to wait (see
// poller.onLoop), never per message.
func goid() uint64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
