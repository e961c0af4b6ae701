package netpoll

import (
	"io"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// BenchmarkReadFromSocket: a proxy's copy of a stream from an upstream
// socket of Go's net to an upoll Conn, 64 KiB per op: ReadFrom's splice
// against the copy through 32 KiB that ReadFrom makes of a plain
// reader. The feeder and the peer that discards run in this process
// too, the same in both modes: compare cpu-µs/op between the modes of
// one run.
//
//	go test ./netpoll -run '^$' -bench ReadFromSocket -count 6
func BenchmarkReadFromSocket(b *testing.B) {
	for _, mode := range []string{"splice", "copy"} {
		b.Run(mode, func(b *testing.B) {
			s, addr, conns := startAccept(b)
			peer := dialTCP(b, addr)
			c := recvConn(b, conns)
			src, feeder := goSource(b)
			chunk := make([]byte, 64<<10)
			total := int64(b.N) * int64(len(chunk))
			go func() {
				for range b.N {
					if _, err := feeder.Write(chunk); err != nil {
						return
					}
				}
				feeder.CloseWrite()
			}()
			drained := make(chan int64, 1)
			go func() {
				peer.SetReadDeadline(time.Now().Add(time.Minute))
				n, _ := io.Copy(io.Discard, peer)
				drained <- n
			}()
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			var r io.Reader = src
			if mode == "copy" {
				r = struct{ io.Reader }{src}
			}
			cpu0, _ := testutil.SelfCPU()
			n, err := c.ReadFrom(r)
			c.CloseWrite()
			got := <-drained
			cpu1, _ := testutil.SelfCPU()
			if err != nil || n != total || got != total {
				b.Fatalf("ReadFrom = %d, %v, peer got %d; want %d", n, err, got, total)
			}
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			st := s.Stats()
			b.ReportMetric(float64(st.Splices+st.WriteCalls)/float64(b.N), "sends/op")
			b.ReportMetric(float64(st.WriteEAGAIN)/float64(b.N), "full/op")
		})
	}
}
