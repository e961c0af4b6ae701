package main

import (
	"encoding/binary"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestPipelinedAnswersBounded: a peer pipelines requests without pause
// and never reads an answer. The handler answers every request it finds
// buffered; while it runs, the poller keeps reading the peer's next
// requests, so the buffered input never runs out. The answers must not
// pile up in the server without bound: once MaxOutput of them wait for
// the peer, the handler must wait (Flush) and stop taking requests, and
// the peer's bytes wait in the kernel. Each request is an untagged sleep
// of 1 ms with a 64 KiB body, so the handler is slower than the peer on
// every backend.
func TestPipelinedAnswersBounded(t *testing.T) {
	const (
		body  = 64 << 10
		limit = 48 << 20 // heap growth that no bound of the server explains
	)
	for _, be := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		t.Run(be.String(), func(t *testing.T) {
			t.Setenv("UPOLL", "")
			s, err := netpoll.NewServer(handler(DefaultMaxFrame), netpoll.WithBackend(be),
				netpoll.WithReadTimeout(10*time.Second),
				netpoll.WithOnConnect(serverOnConnect), netpoll.WithOnDisconnect(serverOnDisconnect))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := s.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				s.Close()
				t.Fatal(err)
			}
			go s.Serve(ln)
			defer shutdown(s)
			cfg := s.Config()

			frame := make([]byte, HeaderLen+3+body)
			binary.BigEndian.PutUint32(frame, uint32(3+body))
			frame[HeaderLen] = OpSleep
			binary.BigEndian.PutUint16(frame[HeaderLen+1:], 1) // 1 ms

			heap := func() int64 {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				return int64(ms.HeapInuse)
			}
			h0 := heap()

			c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).SetReadBuffer(4 << 10) // and never read
			var sent atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
					n, err := c.Write(frame)
					sent.Add(int64(n))
					if err != nil && !isTimeout(err) {
						return
					}
				}
			})
			var worst int64
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				if g := heap() - h0; g > worst {
					worst = g
				}
				if worst > limit {
					break // conclusive
				}
			}
			close(stop)
			c.Close()
			wg.Wait()
			t.Logf("%v: the peer sent %d MiB, read nothing; server heap grew by at most %d MiB (MaxInput %d KiB, MaxOutput %d KiB)",
				be, sent.Load()>>20, worst>>20, cfg.MaxInput>>10, cfg.MaxOutput>>10)
			if worst > limit {
				t.Fatalf("answers to a peer that never reads grew the heap by %d MiB (> %d MiB): the handler is not held back by MaxOutput",
					worst>>20, limit>>20)
			}
		})
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
