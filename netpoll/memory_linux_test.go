package netpoll

import (
	"testing"
	"time"
	"unsafe"

	"github.com/upoll/upoll/internal/testutil"
	"golang.org/x/sys/unix"
)

// idleConnBytes opens n idle connections (raw client sockets, so the
// clients add nothing to the Go heap) and returns the server's heap
// growth per connection, after GC.
func idleConnBytes(t testing.TB, n int, opts ...Option) float64 {
	s, addr := startServer(t, echoHandler, opts...)
	ap := mustAddrPort(t, addr)
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	before := testutil.HeapInUse()
	fds := make([]int, 0, n)
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for range n {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
		if err := unix.Connect(fd, sa); err != nil {
			t.Fatal(err)
		}
	}
	if !testutil.WaitFor(10*time.Second, func() bool { return s.Stats().LiveConns == int64(n) }) {
		t.Fatalf("live conns %d, want %d", s.Stats().LiveConns, n)
	}
	return float64(testutil.HeapInUse()-before) / float64(n)
}

func TestIdleConnMemory(t *testing.T) {
	skipStd(t, "the memory of a connection without a goroutine")
	skipUring(t, "the ring keeps 100-120 B more per connection (its registration, by descriptor), over the 400 B goal of the epoll design")
	n := 5000
	if testing.Short() {
		n = 1000
	}
	per := idleConnBytes(t, n, WithPollers(2))
	t.Logf("idle connection: %.0f B of heap each (Conn struct %d B, LinkBuffer %d B each, registry slot %d B)",
		per, unsafe.Sizeof(Conn{}), unsafe.Sizeof(Conn{}.in), unsafe.Sizeof(slot{}))
	if per > 400 {
		t.Fatalf("idle connection costs %.0f B, goal is <= 400", per)
	}
}

func BenchmarkIdleConnMemory(b *testing.B) {
	for range b.N {
		b.ReportMetric(idleConnBytes(b, 5000, WithPollers(2)), "B/idleconn")
	}
}
