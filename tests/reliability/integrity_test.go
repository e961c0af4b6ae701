package reliability

import (
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// pattern is the random source every sender slices its stream from.
var pattern = func() []byte {
	b := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}()

// streamResult is what one echo connection sent and got back.
type streamResult struct {
	sent, got       int64
	sentSum, gotSum uint32
}

// pumpEcho sends perConn bytes on each of conns connections to an echo
// server at addr, in chunks of random size, half-closes, and reads the
// echo to EOF; it compares byte counts and CRC-32C of each direction.
func pumpEcho(t *testing.T, addr string, conns int, perConn int64, deadline time.Duration) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	results := make([]streamResult, conns)
	sem := make(chan struct{}, 128) // bound concurrent dials
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			<-sem
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(deadline))
			res := &results[i]
			werr := make(chan error, 1)
			go func() { werr <- sendStream(c.(*net.TCPConn), uint64(i), perConn, res) }()
			h := crc32.New(castagnoli)
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				h.Write(buf[:n])
				res.got += int64(n)
				if err == io.EOF {
					break
				}
				if err != nil {
					errs <- fmt.Errorf("conn %d: read after %d of %d B: %w", i, res.got, perConn, err)
					<-werr
					return
				}
			}
			res.gotSum = h.Sum32()
			if err := <-werr; err != nil {
				errs <- fmt.Errorf("conn %d: %w", i, err)
				return
			}
			if res.got != res.sent || res.gotSum != res.sentSum {
				errs <- fmt.Errorf("conn %d: sent %d B crc %08x, echoed %d B crc %08x", i, res.sent, res.sentSum, res.got, res.gotSum)
			}
		}()
	}
	testutil.WaitGroup(t, &wg, deadline+time.Minute, "the stream clients")
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 5 {
		t.Errorf("... %d connections failed in all", n)
	}
}

// sendStream writes n bytes of the pattern (from a per-connection
// offset, in random chunks) and half-closes.
func sendStream(c *net.TCPConn, seed uint64, n int64, res *streamResult) error {
	rng := rand.New(rand.NewPCG(seed, 99))
	h := crc32.New(castagnoli)
	off := rng.IntN(len(pattern))
	for res.sent < n {
		size := int(min(int64(1+rng.IntN(64<<10)), n-res.sent))
		if off+size > len(pattern) {
			off = 0
		}
		chunk := pattern[off : off+size]
		off += size
		m, err := c.Write(chunk)
		h.Write(chunk[:m])
		res.sent += int64(m)
		if err != nil {
			return fmt.Errorf("write after %d B: %w", res.sent, err)
		}
	}
	res.sentSum = h.Sum32()
	return c.CloseWrite()
}

// integrityInChild says where TestEchoIntegrity runs its server:
// RELTEST_INTEGRITY=inproc keeps it in the test process.
func integrityInChild() bool { return os.Getenv("RELTEST_INTEGRITY") != "inproc" }

// TestEchoIntegrity pushes 1 GiB (64 MiB with -short) through the
// netpoll echo handler over 100 connections in each trigger mode and
// checks, per connection, that every byte came back in order (length
// and CRC-32C of each direction).
func TestEchoIntegrity(t *testing.T) {
	const conns = 100
	total := int64(1 << 30)
	if testing.Short() {
		total = 64 << 20
	}
	if s := os.Getenv("RELTEST_INTEGRITY_MB"); s != "" {
		mb, _ := strconv.Atoi(s)
		total = int64(mb) << 20
	}
	perConn := total / conns
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			start := time.Now()
			if integrityInChild() {
				ch := startChild(t, "echo", fmt.Sprintf("%s=%d", childTriggerEnv, trig))
				pumpEcho(t, ch.addr, conns, perConn, 3*time.Minute)
				st, ok := ch.waitStats(t, 10*time.Second, func(m map[string]int64) bool { return m["live"] == 0 })
				if !ok {
					t.Errorf("child still holds %d conns", st["live"])
				}
				self, err := testutil.ProcCPU(os.Getpid())
				t.Logf("child CPU %v, test process CPU %v %v", ch.CPU(t), self, err)
				if st["in"] != perConn*conns {
					t.Errorf("child read %d B, want %d", st["in"], perConn*conns)
				}
			} else {
				checkLeaks(t)
				n := startNative(t, echoHandler, withTrigger(trig))
				pumpEcho(t, n.addr, conns, perConn, 3*time.Minute)
				if !testutil.WaitFor(10*time.Second, func() bool { return n.live() == 0 }) {
					t.Errorf("server still holds %d conns", n.live())
				}
			}
			d := time.Since(start)
			t.Logf("%d MiB echoed over %d conns in %v (%.1f MiB/s each way)",
				total>>20, conns, d.Round(time.Millisecond), float64(total)/(1<<20)/d.Seconds())
		})
	}
}
