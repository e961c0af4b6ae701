package netpoll

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// pattern is n bytes that differ with their position.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + i>>10)
	}
	return b
}

// failAfter takes n bytes, then fails with errSink.
type failAfter struct {
	n   int
	got bytes.Buffer
}

var errSink = errors.New("sink failed")

func (w *failAfter) Write(p []byte) (int, error) {
	if w.got.Len()+len(p) <= w.n {
		return w.got.Write(p)
	}
	k := w.n - w.got.Len()
	w.got.Write(p[:k])
	return k, errSink
}

// TestWriteTo: io.Copy from a Conn (its WriteTo) delivers the peer's
// stream up to its end on every backend; a writer that fails after part
// of it leaves the rest buffered, in order, for the next Read; a read
// deadline ends it with Go's timeout.
func TestWriteTo(t *testing.T) {
	const size = 3<<20 + 11
	data := pattern(size)
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			peer := dialTCP(t, addr)
			c := recvConn(t, conns)
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			go func() {
				peer.Write(data)
				peer.CloseWrite()
			}()
			// A writer that fails after 100,000 bytes: the rest of what
			// was buffered must not be lost.
			fw := &failAfter{n: 100_000}
			n, err := c.WriteTo(fw)
			var oe *net.OpError
			if n != 100_000 || !errors.As(err, &oe) || oe.Op != "writeto" || !errors.Is(err, errSink) {
				t.Fatalf("WriteTo(failing writer) = %d, %v; want 100000 and a writeto error around errSink", n, err)
			}
			var rest bytes.Buffer
			m, err := io.Copy(&rest, c) // WriteTo again, to the end of the stream
			if err != nil || m != size-100_000 {
				t.Fatalf("io.Copy after the failure = %d, %v; want %d, nil", m, err, size-100_000)
			}
			if got := append(fw.got.Bytes(), rest.Bytes()...); !bytes.Equal(got, data) {
				t.Fatalf("the two copies hold %d bytes, not the peer's %d in order", len(got), size)
			}
			// The peer is done: the next WriteTo returns at once, 0, nil.
			if n, err := c.WriteTo(io.Discard); n != 0 || err != nil {
				t.Fatalf("WriteTo after the end = %d, %v; want 0, nil", n, err)
			}
		})
		t.Run(b.String()+"/deadline", func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			peer := dialTCP(t, addr)
			c := recvConn(t, conns)
			peer.Write([]byte("abc"))
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			var got bytes.Buffer
			start := time.Now()
			n, err := c.WriteTo(&got)
			if n != 3 || got.String() != "abc" || !errors.Is(err, os.ErrDeadlineExceeded) || !isTimeout(err) {
				t.Fatalf("WriteTo = %d (%q), %v; want 3, \"abc\" and a timeout", n, got.String(), err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("WriteTo took %v with a 200 ms deadline", d)
			}
		})
	}
}

// TestWriteToAllocs: WriteTo hands w the inbound buffer's own bytes:
// 200 messages, each waited for, cost no allocation each (io.Copy's own
// loop allocates a 32 KiB buffer per call and copies into it).
func TestWriteToAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector allocates")
	}
	skipStd(t, "BackendStd's reads allocate in Go's net")
	_, addr, conns := startAccept(t)
	peer := dialTCP(t, addr)
	c := recvConn(t, conns)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	const msgs = 200
	msg := []byte("0123456789")
	w := &pacedWriter{want: len(msg), next: make(chan struct{}, 1), left: msgs}
	peer.Write(msg) // warm: the waiter and the first node
	w.left++
	go func() {
		for range w.next {
			peer.Write(msg)
		}
	}()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := c.WriteTo(w)
	runtime.ReadMemStats(&after)
	close(w.next)
	if n != int64(len(msg)*(msgs+1)) || !errors.Is(err, errStop) {
		t.Fatalf("WriteTo = %d, %v; want %d and errStop", n, err, len(msg)*(msgs+1))
	}
	// The error and its addresses allocate once; the loop must not, nor
	// take a copy buffer (io.Copy's is 32 KiB). A node can be new: a GC
	// empties the node pools, and a node put back on one P is not seen
	// from another P's private slot; each such node costs about 5 KiB
	// (4 KiB of bytes and their owners). 16 KiB allows a few and still
	// fails on a copy buffer. The counts are the whole process's, so
	// the bound on allocations is half the messages: one per message
	// fails, the odd allocation of the runtime or another goroutine
	// does not.
	if d := after.Mallocs - before.Mallocs; d > msgs/2 {
		t.Errorf("%d allocations for %d messages through WriteTo", d, msgs)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 16<<10 {
		t.Errorf("WriteTo allocated %d bytes for %d messages of %d", d, msgs, len(msg))
	}
}

// pacedWriter takes messages of want bytes; after each it asks for the
// next (next), and after left of them it fails with errStop.
type pacedWriter struct {
	want, got, left int
	next            chan struct{}
}

var errStop = errors.New("stop")

func (w *pacedWriter) Write(p []byte) (int, error) {
	w.got += len(p)
	for w.got >= w.want {
		w.got -= w.want
		if w.left--; w.left == 0 {
			return len(p), errStop
		}
		w.next <- struct{}{}
	}
	return len(p), nil
}

// isTimeout reports whether err says Timeout, as net.Error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
