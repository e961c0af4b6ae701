package rpcload

import (
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunCountsStaleAnswerTails: an answer whose argument bytes after
// the caller and sequence number (its first 12) are the connection's
// previous request's (stale bytes of a reused buffer) is a wrong
// answer, for both clients. Before, only those 12 bytes changed from
// call to call: a caller's answers past them were all alike, and with
// one caller per connection such a server ran without an error.
func TestRunCountsStaleAnswerTails(t *testing.T) {
	for _, impl := range []string{"upoll", "std"} {
		t.Run(impl, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer l.Close()
			wg.Go(func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					wg.Go(func() { serveStaleTail(c) })
				}
			})
			cl, err := Dial(impl, l.Addr().String(), 1)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Run(cl, Load{Conns: 1, Inflight: 1, Size: 64, Warmup: 20 * time.Millisecond, Window: 100 * time.Millisecond}, func(int) {})
			cl.Close()
			if err != nil && r.Errors == 0 {
				t.Fatal(err)
			}
			if r.Errors == 0 || !strings.Contains(r.FirstError, errWrongAnswer.Error()) {
				t.Fatalf("answers with a stale tail not counted: %d calls, %d errors", r.Calls, r.Errors)
			}
		})
	}
}

// serveStaleTail answers requests on c like the std server, but past the
// argument's first 12 bytes with the bytes of the previous request.
func serveStaleTail(c net.Conn) {
	defer c.Close()
	var head [reqHead]byte
	var prev []byte
	for range 10_000_000 {
		if _, err := io.ReadFull(c, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[:])
		m, err := checkRequest(n, head[hdrLen:])
		if err != nil {
			return
		}
		req := make([]byte, hdrLen+int(n))
		copy(req, head[:])
		if _, err := io.ReadFull(c, req[reqHead:]); err != nil {
			return
		}
		out := make([]byte, hdrLen+m)
		putResponse(out, req)
		if tail := hdrLen + idLen + 12; prev != nil && len(out) > tail && len(prev) == len(out) {
			copy(out[tail:], prev[tail:])
		}
		prev = slices.Clone(out)
		putResponse(prev, req)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
