package netpoll

import (
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkNeighbours measures what a server costs the rest of its
// process: an echo server (upoll with its defaults as changed by UPOLL,
// or a goroutine-per-connection server on the standard library) serves
// 50 ping-pong connections whose clients run in the same process, beside
// GOMAXPROCS-1 (at least one) goroutines doing CPU-bound work: enough to
// want every P the server leaves them, not so many that the server only
// runs when the scheduler preempts them. A poller that holds a P the
// other goroutines want shows up as fewer burn-kops/s than with the
// standard library's server, whose goroutines park in the runtime.
//
//	msgs/s       messages echoed per second of the window
//	burn-kops/s  thousands of work units the CPU-bound goroutines did per second
//
// Each iteration is one 2-second window; run it with a fixed count and
// compare the servers' figures of the same run:
//
//	go test -run '^$' -bench BenchmarkNeighbours -benchtime 1x -count 5 ./netpoll
func BenchmarkNeighbours(b *testing.B) {
	for _, kind := range []string{"std", "upoll"} {
		b.Run("server="+kind, func(b *testing.B) { benchNeighbours(b, kind) })
	}
}

const neighboursWindow = 2 * time.Second

func benchNeighbours(b *testing.B, kind string) {
	addr := startNeighbourServer(b, kind)
	const conns = 50
	var msgs, burns atomic.Int64
	var measuring atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		wg.Go(func() {
			var out, in [64]byte
			for i := range out {
				out[i] = byte(i)
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(out[:]); err != nil {
					b.Error(err)
					return
				}
				if _, err := io.ReadFull(c, in[:]); err != nil {
					b.Error(err)
					return
				}
				if in != out {
					b.Error("echo differs")
					return
				}
				if measuring.Load() {
					msgs.Add(1)
				}
			}
		})
	}
	for range max(1, runtime.GOMAXPROCS(0)-1) {
		wg.Go(func() {
			x := uint64(1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range 1000 {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
				}
				if x == 0 { // never: keeps the loop from being optimized out
					b.Error("xorshift reached 0")
				}
				if measuring.Load() {
					burns.Add(1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // warm up: every conn accepted, pools filled
	b.ResetTimer()
	var window time.Duration
	for range b.N {
		msgs.Store(0)
		burns.Store(0)
		start := time.Now()
		measuring.Store(true)
		time.Sleep(neighboursWindow)
		measuring.Store(false)
		window += time.Since(start)
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	secs := window.Seconds() / float64(b.N)
	b.ReportMetric(float64(msgs.Load())/secs, "msgs/s")
	b.ReportMetric(float64(burns.Load())/secs/1000, "burn-kops/s")
	b.ReportMetric(0, "ns/op")
}

// startNeighbourServer starts an echo server in this process.
func startNeighbourServer(b *testing.B, kind string) string {
	if kind == "upoll" {
		_, addr := startServer(b, echoHandler)
		return addr
	}
	addr, stop, err := startStdEcho() // BenchmarkEcho's std server
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stop)
	return addr
}
