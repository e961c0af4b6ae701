package gopool

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

func TestNewRejectsBadOptions(t *testing.T) {
	if _, err := New(WithExpiry(0)); err == nil {
		t.Error("New(WithExpiry(0)) succeeded")
	}
	if _, err := New(WithPolicy(Policy(7))); err == nil {
		t.Error("New(WithPolicy(7)) succeeded")
	}
	if got := Policy(7).String(); got != "Policy(7)" {
		t.Errorf("Policy(7).String() = %q", got)
	}
}

func TestGoRunsTasks(t *testing.T) {
	checkNoLeak(t)
	p := newPool(t, WithCapacity(8))
	const n = 1000
	var wg sync.WaitGroup
	var sum atomic.Int64
	wg.Add(n)
	for i := range n {
		if err := p.Go(func() { sum.Add(int64(i)); wg.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitGroup(t, &wg, 60*time.Second, "the tasks")
	if got, want := sum.Load(), int64(n*(n-1)/2); got != want {
		t.Fatalf("sum = %d, want %d", got, want)
	}
	if err := p.Go(nil); !errors.Is(err, ErrNilTask) {
		t.Fatalf("Go(nil) = %v", err)
	}
	waitFor(t, "completed count", func() bool { return p.Stats().Completed == n })
	if st := p.Stats(); st.Capacity != 8 || st.Panics != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestPanicHandler(t *testing.T) {
	checkNoLeak(t)
	type report struct {
		r     any
		stack string
	}
	reports := make(chan report, 1)
	p := newPool(t, WithCapacity(1), WithPanicHandler(func(r any, stack []byte) {
		reports <- report{r, string(stack)}
	}))
	if err := p.Go(func() { panicky() }); err != nil {
		t.Fatal(err)
	}
	rep := recv(t, reports, "panic report")
	if rep.r != "boom" || !strings.Contains(rep.stack, "panicky") {
		t.Fatalf("report = %v, stack:\n%s", rep.r, rep.stack)
	}
	// The only worker panicked; the pool must still run tasks, on it and
	// in Serials.
	done := make(chan struct{})
	s := p.NewSerial()
	s.Submit(func() { panic("again") })
	s.Submit(func() { close(done) })
	recv(t, done, "task after panic")
	recv(t, reports, "second panic report")
	waitFor(t, "panic count", func() bool { return p.Stats().Panics == 2 })
}

func panicky() { panic("boom") }

func TestPanicLogged(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	p := newPool(t, WithLogger(logger))
	p.Go(func() { panicky() })
	waitFor(t, "log record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(buf.String(), "panicky")
	})
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "level=ERROR") || !strings.Contains(buf.String(), "panic=boom") {
		t.Fatalf("log = %s", buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// fill occupies every worker of a capacity-n pool until the returned
// function is called.
func fill(t *testing.T, p *Pool, n int) (release func()) {
	t.Helper()
	gate := make(chan struct{})
	started := make(chan struct{}, n)
	for range n {
		if err := p.Go(func() { started <- struct{}{}; <-gate }); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		recv(t, started, "filler start")
	}
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

func TestPolicyBlock(t *testing.T) {
	checkNoLeak(t)
	p := newPool(t, WithCapacity(2))
	release := fill(t, p, 2)
	ran := make(chan uint64, 1)
	returned := make(chan uint64, 1)
	go func() {
		id := goid()
		p.Go(func() { ran <- goid() })
		returned <- id
	}()
	waitFor(t, "a blocked submitter", func() bool { return p.Stats().Waiting == 1 })
	select {
	case <-ran:
		t.Fatal("task ran while the pool was full")
	case <-returned:
		t.Fatal("Go returned while the pool was full")
	default:
	}
	release()
	caller := recv(t, returned, "Go to return")
	if worker := recv(t, ran, "task to run"); worker == caller {
		t.Fatal("Block ran the task on the submitter")
	}
}

func TestPolicyCallerRuns(t *testing.T) {
	checkNoLeak(t)
	p := newPool(t, WithCapacity(1), WithPolicy(CallerRuns))
	fill(t, p, 1)
	var on uint64
	if err := p.Go(func() { on = goid() }); err != nil {
		t.Fatal(err)
	}
	if on != goid() {
		t.Fatal("CallerRuns did not run the task on the caller")
	}
	s := p.NewSerial()
	var order []int
	for i := range 3 {
		if err := s.Submit(func() { order = append(order, i) }); err != nil {
			t.Fatal(err)
		}
	}
	if len(order) != 3 || order[0] != 0 || order[2] != 2 {
		t.Fatalf("order = %v", order)
	}
}

func TestPolicyFailFast(t *testing.T) {
	checkNoLeak(t)
	p := newPool(t, WithCapacity(1), WithPolicy(FailFast))
	gate := make(chan struct{})
	s := p.NewSerial()
	started := make(chan struct{})
	if err := s.Submit(func() { close(started); <-gate }); err != nil {
		t.Fatal(err)
	}
	recv(t, started, "serial start")
	if err := p.Go(func() {}); !errors.Is(err, ErrPoolOverload) {
		t.Fatalf("Go on a full pool = %v, want ErrPoolOverload", err)
	}
	if err := p.NewSerial().Submit(func() {}); !errors.Is(err, ErrPoolOverload) {
		t.Fatalf("idle Serial Submit on a full pool = %v, want ErrPoolOverload", err)
	}
	// A running Serial needs no new worker.
	done := make(chan struct{})
	if err := s.Submit(func() { close(done) }); err != nil {
		t.Fatalf("running Serial Submit = %v", err)
	}
	close(gate)
	recv(t, done, "queued task")
	waitFor(t, "free worker", func() bool { return p.Go(func() {}) == nil })
}

// TestNestedSubmitAndWait runs, for each policy and a full pool, tasks that
// submit a child and wait for it, several levels deep.
func TestNestedSubmitAndWait(t *testing.T) {
	for _, pol := range []Policy{Block, CallerRuns, FailFast} {
		for _, capacity := range []int{1, 2, 4} {
			t.Run(pol.String()+"/"+string(rune('0'+capacity)), func(t *testing.T) {
				checkNoLeak(t)
				p := newPool(t, WithCapacity(capacity), WithPolicy(pol))
				var overloads atomic.Int64
				var tree func(depth int) int
				tree = func(depth int) int {
					if depth == 0 {
						return 1
					}
					res := make(chan int, 2)
					for range 2 {
						err := p.Go(func() { res <- tree(depth - 1) })
						if errors.Is(err, ErrPoolOverload) {
							overloads.Add(1)
							res <- tree(depth - 1)
						} else if err != nil {
							t.Error(err)
							return 0
						}
					}
					return <-res + <-res
				}
				got := make(chan int, 8)
				for range 8 {
					go func() { got <- tree(5) }()
				}
				for range 8 {
					if n := recv(t, got, "tree"); n != 32 {
						t.Fatalf("tree(5) = %d, want 32", n)
					}
				}
				if pol == FailFast && overloads.Load() == 0 {
					t.Error("FailFast never reported overload")
				}
			})
		}
	}
}

func TestNestedSerialUnderFullPool(t *testing.T) {
	checkNoLeak(t)
	p := newPool(t, WithCapacity(2))
	const keys = 16
	serials := make([]*Serial, keys)
	for i := range serials {
		serials[i] = p.NewSerial()
	}
	var wg sync.WaitGroup
	wg.Add(keys)
	for i := range keys {
		// Each task submits to the next Serial and waits for it, and also
		// to its own Serial (which must not need a worker).
		serials[i].Submit(func() {
			defer wg.Done()
			child := make(chan struct{})
			if err := serials[(i+1)%keys].Submit(func() { close(child) }); err != nil {
				t.Error(err)
				return
			}
			if err := serials[i].Submit(func() {}); err != nil {
				t.Error(err)
			}
			<-child
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, "nested serial tasks")
}

func TestReleaseWaitsForTasks(t *testing.T) {
	checkNoLeak(t)
	p, err := New(WithCapacity(4))
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var finished atomic.Int64
	s := p.NewSerial()
	for range 3 {
		p.Go(func() { <-gate; finished.Add(1) })
		s.Submit(func() { <-gate; finished.Add(1) })
	}
	released := make(chan error, 1)
	go func() { released <- p.Release(context.Background()) }()
	waitFor(t, "closed", func() bool { return p.closed.Load() })
	if err := p.Go(func() {}); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("Go after Release = %v", err)
	}
	if err := s.Submit(func() {}); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("Submit after Release = %v", err)
	}
	select {
	case err := <-released:
		t.Fatalf("Release returned %v with tasks running", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(gate)
	if err := recv(t, released, "Release"); err != nil {
		t.Fatal(err)
	}
	// Three Go tasks and all three queued Serial tasks ran.
	if n := finished.Load(); n != 6 {
		t.Fatalf("%d tasks finished before Release returned, want 6", n)
	}
	if err := p.Close(); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

func TestReleaseTimeout(t *testing.T) {
	checkNoLeak(t)
	p, err := New(WithCapacity(1))
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	started := make(chan struct{})
	p.Go(func() { close(started); <-gate })
	recv(t, started, "task start")
	// A blocked submitter is woken by Release.
	blocked := make(chan error, 1)
	go func() { blocked <- p.Go(func() {}) }()
	waitFor(t, "blocked submitter", func() bool { return p.Stats().Waiting == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Release(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Release = %v, want DeadlineExceeded", err)
	}
	if err := recv(t, blocked, "blocked submitter"); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("blocked Go = %v, want ErrPoolClosed", err)
	}
	close(gate) // the worker exits after its task; checkNoLeak waits for it
}

func TestDefault(t *testing.T) {
	p := Default()
	if p != Default() {
		t.Fatal("Default returned two pools")
	}
	if c := p.Stats().Capacity; c != DefaultCapacity {
		t.Fatalf("Default capacity = %d", c)
	}
	done := make(chan struct{})
	p.Go(func() { close(done) })
	recv(t, done, "default pool task")
}

func TestInsideTask(t *testing.T) {
	if insideTask() {
		t.Fatal("insideTask true on a test goroutine")
	}
	p := newPool(t)
	in := make(chan bool, 1)
	p.Go(func() { in <- insideTask() })
	if !recv(t, in, "task") {
		t.Fatal("insideTask false inside a task")
	}
	// Also deep in a task's stack (more than one chunk of frames).
	p.Go(func() { in <- deep(100) })
	if !recv(t, in, "deep task") {
		t.Fatal("insideTask false deep inside a task")
	}
}

//go:noinline
func deep(n int) bool {
	if n == 0 {
		return insideTask()
	}
	return deep(n - 1)
}

// TestBlockWakesEveryWaiter parks many submitters on a full pool and frees
// the workers at once: every waiter must get a worker (no lost wake-up).
func TestBlockWakesEveryWaiter(t *testing.T) {
	checkNoLeak(t)
	p := newPool(t, WithCapacity(2))
	release := fill(t, p, 2)
	const waiters = 20
	done := make(chan struct{}, waiters)
	for i := range waiters {
		go func() {
			var err error
			if i%2 == 0 {
				err = p.Go(func() { done <- struct{}{} })
			} else {
				// Idle Serials wait for a worker like Go does.
				err = p.NewSerial().Submit(func() { done <- struct{}{} })
			}
			if err != nil {
				t.Error(err)
				done <- struct{}{}
			}
		}()
	}
	waitFor(t, "all submitters to block", func() bool { return p.Stats().Waiting == waiters })
	release()
	for range waiters {
		recv(t, done, "blocked task")
	}
	waitFor(t, "no waiter left", func() bool { return p.Stats().Waiting == 0 })
}

// TestTryGo checks that TryGo runs a task when a worker is free and
// returns ErrPoolOverload at once, under every policy, when none is.
func TestTryGo(t *testing.T) {
	for _, pol := range []Policy{Block, CallerRuns, FailFast} {
		t.Run(pol.String(), func(t *testing.T) {
			p := newPool(t, WithCapacity(1), WithPolicy(pol))
			hold, held := make(chan struct{}), make(chan struct{})
			if err := p.TryGo(func() { close(held); <-hold }); err != nil {
				t.Fatal(err)
			}
			recv(t, held, "first task running")
			ran := false
			start := time.Now()
			if err := p.TryGo(func() { ran = true }); !errors.Is(err, ErrPoolOverload) {
				t.Fatalf("TryGo on a full pool = %v, want ErrPoolOverload", err)
			}
			if ran || time.Since(start) > time.Second {
				t.Fatalf("TryGo ran the task (%v) or waited (%v)", ran, time.Since(start))
			}
			close(hold)
			waitFor(t, "worker free", func() bool { return p.Stats().Running == 0 })
			done := make(chan struct{})
			if err := p.TryGo(func() { close(done) }); err != nil {
				t.Fatal(err)
			}
			recv(t, done, "task after the worker freed")
			if err := p.TryGo(nil); !errors.Is(err, ErrNilTask) {
				t.Errorf("TryGo(nil) = %v", err)
			}
			p.Close()
			if err := p.TryGo(func() {}); !errors.Is(err, ErrPoolClosed) {
				t.Errorf("TryGo after Close = %v", err)
			}
		})
	}
}

// TestPanicHandlerPanics: a panic handler that panics itself is
// recovered and logged. It must not reach a submitter that ran the task
// inline (CallerRuns on a full pool), nor stop a Serial, inline or on a
// worker, from running its next task.
func TestPanicHandlerPanics(t *testing.T) {
	t.Run("worker Serial", func(t *testing.T) {
		p, log := hookPanicPool(t)
		s := p.NewSerial()
		done, gate := make(chan struct{}), make(chan struct{})
		if err := s.Submit(func() { <-gate; panicky() }); err != nil {
			t.Fatal(err)
		}
		if err := s.Submit(func() { close(done) }); err != nil {
			t.Fatal(err)
		}
		close(gate)
		recv(t, done, "run of the Serial's next task")
		log.expect(t, p, 1)
	})
	t.Run("inline Go", func(t *testing.T) {
		p, log := hookPanicPool(t)
		fill(t, p, 1)
		panicked, err := catch(func() error { return p.Go(panicky) })
		if panicked != nil || err != nil {
			t.Fatalf("Go: error %v, submitter panicked with %v; want neither", err, panicked)
		}
		log.expect(t, p, 1)
	})
	t.Run("inline Serial", func(t *testing.T) {
		p, log := hookPanicPool(t)
		fill(t, p, 1)
		s := p.NewSerial()
		panicked, err := catch(func() error { return s.Submit(panicky) })
		if panicked != nil || err != nil {
			t.Fatalf("Submit: error %v, submitter panicked with %v; want neither", err, panicked)
		}
		ran := false
		if err := s.Submit(func() { ran = true }); err != nil || !ran {
			t.Fatalf("the Serial's next task: error %v, ran %v; want it run inline", err, ran)
		}
		log.expect(t, p, 1)
	})
}

// hookPanicPool returns a CallerRuns pool of one worker whose panic
// handler panics, and the log it reports to.
func hookPanicPool(t *testing.T) (*Pool, *testLog) {
	t.Helper()
	checkNoLeak(t)
	log := new(testLog)
	p := newPool(t, WithCapacity(1), WithPolicy(CallerRuns),
		WithLogger(slog.New(slog.NewTextHandler(lockedWriter{&log.mu, &log.buf}, nil))),
		WithPanicHandler(func(any, []byte) { panic("hook") }))
	return p, log
}

type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// expect fails the test unless p counted n panics and the log reports
// the handler's panic n times, with both panic values.
func (l *testLog) expect(t *testing.T, p *Pool, n int) {
	t.Helper()
	waitFor(t, "the panic count", func() bool { return p.Stats().Panics == int64(n) })
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.buf.String()
	if got := strings.Count(out, "panic handler panicked"); got != n || !strings.Contains(out, "panic=hook") || !strings.Contains(out, "boom") {
		t.Fatalf("%d reports of the handler's panic, want %d with both panics; log:\n%s", got, n, out)
	}
}

// catch calls f and returns what it panicked with, or its error.
func catch(f func() error) (panicked any, err error) {
	defer func() { panicked = recover() }()
	return nil, f()
}
