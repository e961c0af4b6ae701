package nethttp

import (
	"errors"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// BenchmarkAbortedRead measures what net/http's server does around each
// request without a body, on a keep-alive connection, for each stack:
// the read deadline cleared, a background one-byte Read blocked in a
// goroutine of its own (startBackgroundRead), then aborted by a read
// deadline in the past and cleared again (abortPendingRead). The aborted
// Read's timeout error is built every time, as the server's is.
func BenchmarkAbortedRead(b *testing.B) {
	longAgo := time.Unix(1, 0)
	for _, st := range stacks() {
		b.Run(st.name, func(b *testing.B) {
			ln, err := st.listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			cl, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			c, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			done := make(chan error, 1)
			var buf [1]byte
			read := func() {
				_, err := c.Read(buf[:])
				done <- err
			}
			b.ReportAllocs()
			for b.Loop() {
				c.SetReadDeadline(time.Time{})
				go read()
				// The Read starts and, usually, blocks, as it has by the
				// time a handler ends.
				runtime.Gosched()
				c.SetReadDeadline(longAgo)
				if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
					b.Fatalf("aborted read: %v", err)
				}
				c.SetReadDeadline(time.Time{})
			}
		})
	}
}
