package netpoll

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestIdleSweepWhileSaturated: a poller whose every pass fills its event
// batch still closes idle connections, and not the busy ones. The sweep
// used to be skipped after a full batch, so a poller kept saturated (by
// load, or by peers that mean to) kept idle connections open for ever.
// The batch is cut to one event here, so that any ready connection fills
// it; connections that send without pause keep one always ready.
// BackendStd, which sweeps from a goroutine of its own, has no batch.
func TestIdleSweepWhileSaturated(t *testing.T) {
	eventBatch = 1
	t.Cleanup(func() { eventBatch = maxEvents })
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) { testIdleSweepWhileSaturated(t, b) })
	}
}

func testIdleSweepWhileSaturated(t *testing.T, b Backend) {
	var got atomic.Int64
	drop := func(c *Conn) error {
		r := c.Reader()
		got.Add(int64(r.Len()))
		r.Skip(r.Len())
		return r.Release()
	}
	const idle = 300 * time.Millisecond
	const floods = 8
	disc := make(chan error, floods+2)
	_, addr := startServer(t, drop, WithBackend(b), WithIdleTimeout(idle),
		WithOnDisconnect(func(c *Conn, err error) { disc <- err }))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for range floods {
		c := dialTCP(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 4096)
			for i := 0; i < 1_000_000; i++ { // bounded; stop ends it first
				select {
				case <-stop:
					return
				default:
				}
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
	}
	// The floods are under way before the idle connection comes.
	for i := 0; got.Load() < 1<<20; i++ {
		if i == 500 {
			t.Fatalf("the floods delivered %d bytes in 5 s", got.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}

	quiet := dialTCP(t, addr)
	start := time.Now()
	quiet.SetReadDeadline(start.Add(2500 * time.Millisecond))
	_, err := quiet.Read(make([]byte, 1))
	waited := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("an idle connection (timeout %v) was still open after %v beside a saturated poller", idle, waited)
	}
	if err != io.EOF {
		t.Fatalf("idle connection's read = %v, want EOF", err)
	}
	if waited < idle {
		t.Fatalf("idle connection closed after %v, before its timeout %v", waited, idle)
	}
	if err := <-disc; !errors.Is(err, ErrIdleTimeout) {
		t.Fatalf("the first connection closed was closed by %v, want the idle timeout", err)
	}
	// Up to 2 s: on a loaded machine (CI beside other test binaries)
	// 100 ms once passed without a byte while the floods went on.
	before := got.Load()
	if !testutil.WaitFor(2*time.Second, func() bool { return got.Load() > before }) {
		t.Fatal("the floods stopped: a busy connection was closed")
	}
}
