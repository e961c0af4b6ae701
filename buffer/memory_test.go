package buffer

import (
	"testing"
	"unsafe"
)

func TestStructSize(t *testing.T) {
	// netpoll's budget: an idle connection <= 400 B with two LinkBuffers.
	// 72 bytes: two per connection, and netpoll's Conn in the 288-byte
	// size class depends on it.
	if s := unsafe.Sizeof(LinkBuffer{}); s > 72 {
		t.Fatalf("unsafe.Sizeof(LinkBuffer{}) = %d, want <= 72", s)
	}
	t.Logf("unsafe.Sizeof(LinkBuffer{}) = %d", unsafe.Sizeof(LinkBuffer{}))
}

// cycle is the steady state of a connection: write a payload, publish it,
// read it without copying, release.
func cycle(t testing.TB, b *LinkBuffer, payload []byte) {
	if _, err := b.WriteBinary(payload); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	p, err := b.Next(len(payload))
	if err != nil || len(p) != len(payload) {
		t.Fatal(err)
	}
	if err := b.Release(); err != nil {
		t.Fatal(err)
	}
}

func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under -race")
	}
	for _, n := range []int{1, 64, 1000, minNodeSize} {
		b := New()
		payload := pattern(0, n)
		cycle(t, b, payload) // warm the pools
		if a := testing.AllocsPerRun(1000, func() { cycle(t, b, payload) }); a != 0 {
			t.Errorf("write/Flush/Next/Release of %d B: %v allocs per cycle, want 0", n, a)
		}
	}
	// The poller's path: Book, BookAck, GetBytes, Skip, Release.
	b := New()
	vecs := make([][]byte, 0, 4)
	poll := func() {
		vecs = b.Book(512, vecs)
		copy(vecs[0], "ping")
		b.BookAck(4)
		vecs = b.GetBytes(vecs)
		b.Skip(4)
		b.Release()
	}
	poll()
	if a := testing.AllocsPerRun(1000, poll); a != 0 {
		t.Errorf("Book/BookAck/GetBytes/Skip/Release: %v allocs per cycle, want 0", a)
	}
}

// TestNodesComeBack runs many cycles of assorted sizes and checks that the
// number of live nodes stays bounded during the run and returns to where it
// started: every node goes back to the pool. In the first half the buffer
// drains every cycle (and must then hold no node); in the second half one
// byte stays queued, so reads straddle nodes and make scratch copies.
func TestNodesComeBack(t *testing.T) {
	cycles := 1_000_000
	if testing.Short() || raceEnabled {
		cycles = 100_000
	}
	live := liveNodes.Load()
	b := New()
	sizes := []int{1, 64, 1500, minNodeSize - 1, minNodeSize, minNodeSize + 1}
	payload := pattern(0, 2*minNodeSize)
	var peak int64
	for i := range cycles {
		if i == cycles/2 {
			b.Write([]byte{0}) // the carried byte
		}
		n := sizes[i%len(sizes)]
		b.WriteBinary(payload[:n])
		b.Flush()
		b.Next(n)
		if d := liveNodes.Load() - live; d > peak {
			peak = d
		}
		b.Release()
		if i < cycles/2 && nodeCount(b) != 0 {
			t.Fatalf("cycle %d: drained buffer holds %d nodes", i, nodeCount(b))
		}
	}
	drain(t, b)
	if nodeCount(b) != 0 {
		t.Fatalf("drained buffer holds %d nodes", nodeCount(b))
	}
	checkLive(t, live)
	// Within a cycle: at most two data nodes and one scratch copy.
	if peak < 1 || peak > 3 {
		t.Fatalf("live nodes peaked at %d during %d cycles, want 1..3", peak, cycles)
	}
	t.Logf("%d cycles, peak live nodes %d", cycles, peak)
}

func TestSizeClasses(t *testing.T) {
	for _, tc := range []struct{ n, size, class int }{
		{0, minNodeSize, 0},
		{1, minNodeSize, 0},
		{minNodeSize, minNodeSize, 0},
		{minNodeSize + 1, 2 * minNodeSize, 1},
		{64 << 10, 64 << 10, 4},
		{maxNodeSize, maxNodeSize, numClasses - 1},
		{maxNodeSize + 1, maxNodeSize + 1, -1},
	} {
		if size, class := sizeClass(tc.n); size != tc.size || class != tc.class {
			t.Errorf("sizeClass(%d) = %d, %d; want %d, %d", tc.n, size, class, tc.size, tc.class)
		}
	}
}
