package main

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"
)

// TestReviewHostileRPCPartialFramesBudget: hostile peers each announce a
// frame of DefaultMaxFrame (4 MiB, accepted) and send all of it but the
// last byte, then hold the connection open. The RPC server's handler
// waits in Reader.Slice for the rest. The server runs with the default
// buffer budget (8 MiB here: no memory limit is set). Contracts:
// netpoll/options.go:276-280, Config.BufferBudget "bounds the input and
// output buffered by all the connections of a Server together, in bytes";
// netpoll/doc.go:65-66 "Input and output are bounded per connection
// (MaxInput, MaxOutput) and per Server (BufferBudget)"; docs/memory.md
// table row "All conns of one Server, input + output | BufferBudget".
// Four such peers must not make the server hold more than its budget.
func TestReviewHostileRPCPartialFramesBudget(t *testing.T) {
	const peers = 4
	for _, backend := range []string{"epoll", "std", "uring"} {
		t.Run(backend, func(t *testing.T) {
			t.Setenv("UPOLL", "backend="+backend)
			s, addr, err := startServer("127.0.0.1:0", DefaultMaxFrame)
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(s)
			budget := s.Config().BufferBudget
			frame := make([]byte, HeaderLen+DefaultMaxFrame-1)
			binary.BigEndian.PutUint32(frame, DefaultMaxFrame)
			frame[HeaderLen] = OpEcho
			var wg sync.WaitGroup
			conns := make([]net.Conn, 0, peers)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
				wg.Wait()
			}()
			for range peers {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					c.Write(frame) // all but the frame's last byte
				}()
			}
			var worst int64
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				st := s.Stats()
				if b := st.BufferedIn + st.BufferedOut; b > worst {
					worst = b
				}
				if worst > budget+1<<20 {
					break // conclusive
				}
			}
			t.Logf("budget %d; most buffered %d (%d peers, each one byte short of a frame's end)",
				budget, worst, peers)
			if worst > budget {
				t.Fatalf("the server buffered %d bytes for %d half-sent frames, over its BufferBudget %d",
					worst, peers, budget)
			}
		})
	}
}
