package netpoll

import (
	"errors"
	"expvar"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

func TestBufferConfigErrors(t *testing.T) {
	bad := []struct {
		name string
		opts []Option
	}{
		{"negative maxinput", []Option{WithMaxInput(-1)}},
		{"negative maxoutput", []Option{WithMaxOutput(-1)}},
		{"negative budget", []Option{WithBufferBudget(-1)}},
		{"budget below the default bounds", []Option{WithBufferBudget(DefaultMaxInput)}},
		{"budget below explicit bounds", []Option{WithMaxInput(1 << 20), WithMaxOutput(1 << 20), WithBufferBudget(2<<20 - 1)}},
	}
	for _, tc := range bad {
		s, err := NewServer(echoHandler, tc.opts...)
		if err == nil {
			s.Close()
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: %v does not wrap ErrBadConfig", tc.name, err)
		}
	}
	t.Setenv(EnvVar, "budget=1k")
	if s, err := NewServer(echoHandler); !errors.Is(err, ErrBadConfig) {
		if s != nil {
			s.Close()
		}
		t.Errorf("UPOLL=budget=1k: %v, want ErrBadConfig", err)
	}
	t.Setenv(EnvVar, "")

	// Exactly one connection's bounds is enough, in either mode.
	for _, h := range []Handler{echoHandler, nil} {
		s, err := NewServer(h, WithMaxInput(64<<10), WithMaxOutput(64<<10), WithBufferBudget(128<<10))
		if err != nil {
			t.Fatalf("budget equal to the bounds: %v", err)
		}
		if got := s.Config().BufferBudget; got != 128<<10 {
			t.Errorf("BufferBudget %d", got)
		}
		s.Close()
	}
	// A default budget makes room for large explicit bounds.
	s, err := NewServer(echoHandler, WithMaxInput(1<<30))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Config().BufferBudget; got < 1<<30+DefaultMaxOutput {
		t.Errorf("default budget %d below the bounds", got)
	}
	s.Close()
}

func TestDefaultBufferBudget(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	debug.SetMemoryLimit(400 << 20)
	if got := DefaultBufferBudget(); got != 100<<20 {
		t.Errorf("with a 400 MiB memory limit: %d, want a quarter", got)
	}
	debug.SetMemoryLimit(1 << 20)
	if got := DefaultBufferBudget(); got != minBudget {
		t.Errorf("with a 1 MiB memory limit: %d, want %d", got, minBudget)
	}
	debug.SetMemoryLimit(old)
	s, err := NewServer(echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Config().BufferBudget; got != DefaultBufferBudget() {
		t.Errorf("Server budget %d, want %d", got, DefaultBufferBudget())
	}
}

// slowSink is a handler that takes its input a few KiB at a time,
// sleeping in between, and keeps a CRC of everything per connection.
type slowSink struct {
	mu   sync.Mutex
	sums map[*Conn]*sinkSum
}

type sinkSum struct {
	n   atomic.Int64
	crc uint32
}

func (s *slowSink) sum(c *Conn) *sinkSum {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sums[c] == nil {
		s.sums[c] = new(sinkSum)
	}
	return s.sums[c]
}

func (s *slowSink) handle(c *Conn) error {
	sum := s.sum(c)
	r := c.Reader()
	for i := 0; r.Len() > 0; i++ {
		b, err := r.Next(min(r.Len(), 4<<10))
		if err != nil {
			return err
		}
		sum.crc = crc32.Update(sum.crc, crc32.IEEETable, b)
		sum.n.Add(int64(len(b)))
		if err := r.Release(); err != nil {
			return err
		}
		if i%4 == 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
	return nil
}

// TestSlowHandlerNoLoss: fast senders and slow handlers, so that input
// stops at the bound (one connection) or at the buffer budget (four
// sharing the least budget allowed) again and again: every byte arrives,
// in order, in every trigger mode.
func TestSlowHandlerNoLoss(t *testing.T) {
	const total = 4 << 20
	for _, trig := range allTriggers {
		for _, tc := range []struct {
			name  string
			conns int
			opts  []Option
		}{
			{"bound", 1, []Option{WithMaxInput(64 << 10)}},
			{"budget", 4, []Option{WithMaxInput(64 << 10), WithMaxOutput(64 << 10), WithBufferBudget(128 << 10)}},
		} {
			t.Run(fmt.Sprintf("%s/%s", trig, tc.name), func(t *testing.T) {
				sink := &slowSink{sums: map[*Conn]*sinkSum{}}
				conns := make(chan *Conn, tc.conns)
				opts := append([]Option{WithTrigger(trig), WithOnConnect(func(c *Conn) { conns <- c })}, tc.opts...)
				s, addr := startServer(t, sink.handle, opts...)
				var sent sync.Map
				var wg sync.WaitGroup
				for range tc.conns {
					cl := dialTCP(t, addr)
					c := recvConn(t, conns)
					wg.Go(func() {
						sum, err := sendAll(cl, total)
						if err != nil {
							t.Error(err)
						}
						sent.Store(c, sum)
					})
				}
				var paused int64
				done := testutil.WaitFor(60*time.Second, func() bool {
					st := s.Stats()
					paused = max(paused, st.PausedByBound+st.PausedByBudget)
					n := 0
					sink.mu.Lock()
					for _, sum := range sink.sums {
						if sum.n.Load() == total {
							n++
						}
					}
					sink.mu.Unlock()
					return n == tc.conns
				})
				wg.Wait()
				if !done {
					t.Fatalf("not all input arrived: %+v", s.Stats().PollerStats)
				}
				sink.mu.Lock()
				for c, sum := range sink.sums {
					want, _ := sent.Load(c)
					if sum.crc != want.(uint32) {
						t.Errorf("crc %08x, want %08x: bytes lost or reordered across pause/resume", sum.crc, want)
					}
				}
				sink.mu.Unlock()
				if paused == 0 {
					t.Logf("no pause seen by the sampling (the handlers kept up)")
				}
			})
		}
	}
}

// TestBudgetFairness: one connection whose handler is stuck holds what
// its peer sends until the budget stops reading it; another connection,
// under its share, is served meanwhile; the hog's bytes all arrive once
// its handler goes on, and the counters come back to zero.
func TestBudgetFairness(t *testing.T) {
	skipInline(t) // the hog's handler waits
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			const (
				bound  = 256 << 10
				budget = bound + 64<<10
				total  = 2 << 20
			)
			release := make(chan struct{})
			var hogN atomic.Int64
			var hogCRC uint32
			h := func(c *Conn) error {
				r := c.Reader()
				first, err := r.Peek(1)
				if err != nil {
					return err
				}
				if first[0] != 'H' && c.Context() == nil {
					return echoHandler(c)
				}
				if c.Context() == nil {
					c.SetContext(true)
					select {
					case <-release:
					case <-time.After(30 * time.Second):
						return errors.New("never released")
					}
				}
				b, err := r.Next(r.Len())
				if err != nil {
					return err
				}
				hogCRC = crc32.Update(hogCRC, crc32.IEEETable, b)
				hogN.Add(int64(len(b)))
				return r.Release()
			}
			s, addr := startServer(t, h, WithTrigger(trig), WithMaxInput(bound), WithMaxOutput(64<<10), WithBufferBudget(budget))
			hog := dialTCP(t, addr)
			sent := make(chan uint32, 1)
			go func() {
				src := make([]byte, total)
				for i := range src {
					src[i] = byte(i * 13)
				}
				src[0] = 'H'
				hog.Write(src)
				sent <- crc32.ChecksumIEEE(src)
			}()
			if trig == OneShot || stdDefault() {
				// One-shot does not re-arm a connection while its handler
				// runs, and BackendStd's connection goroutine runs the
				// handler itself: the hog is not read at all, and the
				// budget has nothing to do.
				time.Sleep(100 * time.Millisecond)
			} else if !testutil.WaitFor(10*time.Second, func() bool { return s.Stats().PausedByBudget == 1 }) {
				t.Fatalf("hog not paused by the budget: %+v", s.Stats().PollerStats)
			}
			st := s.Stats()
			if held := st.BufferedIn + st.BufferedOut; held > budget {
				t.Errorf("buffered %d with budget %d", held, budget)
			}
			// The well-behaved connection is served.
			cl := dialTCP(t, addr)
			cl.SetDeadline(time.Now().Add(10 * time.Second))
			msg := []byte("B-ping-0123456789")
			got := make([]byte, len(msg))
			for i := range 100 {
				if _, err := cl.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(cl, got); err != nil {
					t.Fatalf("round trip %d under the hog: %v", i, err)
				}
				if string(got) != string(msg) {
					t.Fatalf("echoed %q", got)
				}
			}
			close(release)
			if !testutil.WaitFor(20*time.Second, func() bool { return hogN.Load() == total }) {
				t.Fatalf("hog got %d of %d bytes: %+v", hogN.Load(), total, s.Stats().PollerStats)
			}
			if want := <-sent; hogCRC != want {
				t.Fatalf("hog crc %08x, want %08x", hogCRC, want)
			}
			if !testutil.WaitFor(5*time.Second, func() bool {
				st := s.Stats()
				return st.BufferedIn == 0 && st.BufferedOut == 0 && st.PausedByBudget == 0 && st.PausedByBound == 0
			}) {
				t.Fatalf("counters after draining: %+v", s.Stats().PollerStats)
			}
		})
	}
}

// TestBufferStatsExpvar: the buffer gauges reach expvar with the rest of
// Stats.
func TestBufferStatsExpvar(t *testing.T) {
	s, _ := startServer(t, echoHandler)
	name := fmt.Sprintf("upoll-budget-test-%p", s)
	if err := s.PublishExpvar(name); err != nil {
		t.Fatal(err)
	}
	v := expvar.Get(name).String()
	for _, k := range []string{`"BufferedIn":`, `"BufferedOut":`, `"PausedByBound":`, `"PausedByBudget":`} {
		if !strings.Contains(v, k) {
			t.Errorf("expvar %s lacks %s: %s", name, k, v)
		}
	}
}

// TestBudgetPublishedTotal: the total that the check before every read
// loads follows the exact sum of the pollers' counters within a grain
// per poller, whatever the order of the changes, and the grain keeps
// that error within an eighth of the soft mark.
func TestBudgetPublishedTotal(t *testing.T) {
	pollers := []*poller{{}, {}, {}}
	b := newBudget(3<<20, pollers)
	rng := rand.New(rand.NewPCG(1, 2))
	held := make([]int64, len(pollers))
	published := 0
	for i := range 20000 {
		k := rng.IntN(len(pollers))
		d := rng.Int64N(64<<10) - 32<<10
		if held[k]+d < 0 {
			d = -held[k]
		}
		held[k] += d
		if i%2 == 0 {
			pollers[k].ctr.bufferedIn.Add(d)
		} else {
			pollers[k].ctr.bufferedOut.Add(d)
		}
		before := b.total.Load()
		b.publish(pollers[k])
		if b.total.Load() != before {
			published++
		}
		if diff := b.total.Load() - b.used(); diff >= int64(len(pollers))*b.grain || -diff >= int64(len(pollers))*b.grain {
			t.Fatalf("change %d: published total %d, exact sum %d: off by more than %d pollers x grain %d",
				i, b.total.Load(), b.used(), len(pollers), b.grain)
		}
	}
	if published < 100 {
		t.Fatalf("the total changed %d times in 20000 changes: the case does not test publishing", published)
	}
	if int64(len(pollers))*b.grain > b.soft/8 || b.grain <= 0 {
		t.Fatalf("grain %d x %d pollers: want within (0, soft/8 = %d]", b.grain, len(pollers), b.soft/8)
	}
}
