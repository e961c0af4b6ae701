package netpoll

import (
	"testing"
	"time"
)

// TestWriteTimeoutSteadyPeer: WriteTimeout "bounds each blocking write
// wait". A Write on epoll restarts it for each MaxOutput chunk, so 1 MiB
// to a peer that reads at most 16 KiB every 20 ms (1.3 s or more in
// all) passes under a 600 ms timeout; the same bytes through the
// Writer's Flush, and a Write under BackendStd, were cut at the timeout
// while the peer was reading. The timeout is twice what it was (300 ms)
// so that each 64 KiB step leaves a loaded machine 150 ms a read; the
// whole write still takes over twice as long as the timeout.
func TestWriteTimeoutSteadyPeer(t *testing.T) {
	for _, b := range testBackends(true) {
		for _, how := range []string{"Write", "Flush"} {
			t.Run(b.String()+"/"+how, func(t *testing.T) {
				_, addr, conns := startAccept(t, WithBackend(b), WithWriteTimeout(600*time.Millisecond), WithMaxOutput(64<<10))
				cl := dialTCP(t, addr)
				cl.SetReadBuffer(16 << 10)
				sc := recvConn(t, conns)
				sc.SetWriteBuffer(16 << 10)
				defer sc.Close()
				stop := make(chan struct{})
				defer close(stop)
				go func() {
					buf := make([]byte, 16<<10)
					for i := 0; i < 1000; i++ {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						cl.SetReadDeadline(time.Now().Add(2 * time.Second))
						if _, err := cl.Read(buf); err != nil {
							return
						}
					}
				}()
				data := make([]byte, 1<<20)
				start := time.Now()
				var n int
				var err error
				if how == "Write" {
					n, err = sc.Write(data)
				} else {
					w := sc.Writer()
					w.WriteBinary(data)
					err = w.Flush()
				}
				t.Logf("n=%d err=%v after %v", n, err, time.Since(start))
				if err != nil {
					t.Fatalf("%s of 1 MiB to a peer reading steadily: %v after %v (%d bytes)", how, err, time.Since(start), n)
				}
			})
		}
	}
}
