package netpoll

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReview6ReadFromWriteTimeoutSteadyPeer: WriteTimeout bounds each
// blocking write wait, and ReadFrom waits for room "as Write does":
// 1 MiB from a file (sendfile) or from one of Go's sockets (splice) to
// a peer that reads 16 KiB every 20 ms (about 1.4 s in all) must pass
// under a 300 ms write timeout, as a Write of the same bytes does
// (TestWriteTimeoutSteadyPeer).
func TestReview6ReadFromWriteTimeoutSteadyPeer(t *testing.T) {
	const size = 1 << 20
	for _, b := range testBackends(true) {
		for _, how := range []string{"Write", "file", "socket"} {
			t.Run(b.String()+"/"+how, func(t *testing.T) {
				_, addr, conns := startAccept(t, WithBackend(b), WithWriteTimeout(300*time.Millisecond), WithMaxOutput(64<<10))
				cl := dialTCP(t, addr)
				cl.SetReadBuffer(16 << 10)
				sc := recvConn(t, conns)
				sc.SetWriteBuffer(16 << 10)
				defer sc.Close()
				stop := make(chan struct{})
				defer close(stop)
				read := make(chan int, 1)
				go func() {
					buf := make([]byte, 16<<10)
					total := 0
					defer func() { read <- total }()
					for i := 0; i < 1000 && total < size; i++ {
						select {
						case <-stop:
							return
						case <-time.After(20 * time.Millisecond):
						}
						cl.SetReadDeadline(time.Now().Add(2 * time.Second))
						n, err := cl.Read(buf)
						total += n
						if err != nil {
							return
						}
					}
				}()
				data := stream(size, 6)
				start := time.Now()
				var n int64
				var err error
				switch how {
				case "Write":
					var m int
					m, err = sc.Write(data)
					n = int64(m)
				case "file":
					name := filepath.Join(t.TempDir(), "f")
					if err := os.WriteFile(name, data, 0o600); err != nil {
						t.Fatal(err)
					}
					f, ferr := os.Open(name)
					if ferr != nil {
						t.Fatal(ferr)
					}
					defer f.Close()
					n, err = sc.ReadFrom(f)
				case "socket":
					src, feeder := goSource(t)
					fed := feed(feeder, data, true)
					n, err = sc.ReadFrom(src)
					if ferr := <-fed; ferr != nil {
						t.Errorf("feed: %v", ferr)
					}
				}
				if err != nil || n != size {
					t.Fatalf("%s of 1 MiB to a peer reading steadily under a 300 ms WriteTimeout: %d, %v after %v", how, n, err, time.Since(start))
				}
				select {
				case got := <-read:
					if got != size {
						t.Fatalf("peer read %d bytes, want %d", got, size)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("peer did not read the bytes within 10s")
				}
			})
		}
	}
}
