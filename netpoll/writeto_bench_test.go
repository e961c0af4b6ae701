package netpoll

import (
	"io"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// BenchmarkCopyFromConn measures io.Copy from a Conn to io.Discard of a
// stream a Go peer sends in 64 KiB writes: through WriteTo (the buffer's
// own bytes handed to the writer) against through Read (the generic
// copy into the writer's buffer), in the same run. cpu-µs/op is the
// process's CPU per 64 KiB, the sending peer's included.
func BenchmarkCopyFromConn(b *testing.B) {
	for _, mode := range []string{"WriteTo", "Read"} {
		b.Run(mode, func(b *testing.B) {
			_, addr, conns := startAccept(b)
			peer := dialTCP(b, addr)
			c := recvConn(b, conns)
			c.SetReadDeadline(time.Now().Add(time.Minute))
			chunk := make([]byte, 64<<10)
			total := int64(b.N) * int64(len(chunk))
			go func() {
				for range b.N {
					if _, err := peer.Write(chunk); err != nil {
						return
					}
				}
				peer.CloseWrite()
			}()
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			var src io.Reader = c
			if mode == "Read" {
				src = struct{ io.Reader }{c}
			}
			cpu0, _ := testutil.SelfCPU()
			n, err := io.Copy(io.Discard, src)
			cpu1, _ := testutil.SelfCPU()
			if err != nil || n != total {
				b.Fatalf("io.Copy = %d, %v; want %d", n, err, total)
			}
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}
