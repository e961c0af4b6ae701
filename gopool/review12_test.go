package gopool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReview12ZeroValues: a Pool or Serial not made by New (a zero
// value, as in a struct field left unset) must refuse work with an
// error, not panic, and Release and Close must not panic or hang.
func TestReview12ZeroValues(t *testing.T) {
	checkNoLeak(t)
	calls := []struct {
		name string
		f    func() error
	}{
		{"Pool.Go", func() error { return new(Pool).Go(func() {}) }},
		{"Pool.TryGo", func() error { return new(Pool).TryGo(func() {}) }},
		{"Pool.NewSerial.Submit", func() error { return new(Pool).NewSerial().Submit(func() {}) }},
		{"Serial.Submit", func() error { return new(Serial).Submit(func() {}) }},
		{"Pool.Release", func() error { return new(Pool).Release(context.Background()) }},
		{"Pool.Close", func() error { return new(Pool).Close() }},
	}
	for _, c := range calls {
		done := make(chan struct{})
		var panicked any
		var err error
		go func() {
			defer close(done)
			panicked, err = catch(c.f)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s on a zero value hangs", c.name)
		}
		if panicked != nil {
			t.Errorf("%s on a zero value panicked: %v", c.name, panicked)
			continue
		}
		if !errors.Is(err, ErrPoolClosed) {
			t.Errorf("%s on a zero value = %v, want an error wrapping ErrPoolClosed", c.name, err)
		}
	}
	if st := new(Pool).Stats(); st != (Stats{}) {
		t.Errorf("zero Pool's Stats = %+v, want zero", st)
	}
}

// TestReview12SerialOrderEveryPolicy: on a pool kept full (capacity 1
// and 2), Serials fed by one submitter each keep their tasks in order and
// never run two at once, whatever the policy does with an idle Serial
// that finds no worker (wait, run on the submitter, refuse). Every task
// accepted runs exactly once, panicking ones included, and a refused one
// never runs.
func TestReview12SerialOrderEveryPolicy(t *testing.T) {
	for _, pol := range []Policy{Block, CallerRuns, FailFast} {
		for _, capacity := range []int{1, 2} {
			t.Run(fmt.Sprintf("%v/%d", pol, capacity), func(t *testing.T) {
				review12SerialOrder(t, pol, capacity)
			})
		}
	}
}

func review12SerialOrder(t *testing.T, pol Policy, capacity int) {
	checkNoLeak(t)
	var panics atomic.Int64
	p := newPool(t, WithCapacity(capacity), WithPolicy(pol),
		WithPanicHandler(func(any, []byte) { panics.Add(1) }))
	const keys, perKey = 8, 300
	type key struct {
		s       *Serial
		running atomic.Int32
		mu      sync.Mutex
		ran     []int // sequence numbers in the order they ran
	}
	ks := make([]*key, keys)
	for i := range ks {
		ks[i] = &key{s: p.NewSerial()}
	}
	// A stream of short plain tasks keeps the pool at its bound, so that
	// Serials going idle often find it full.
	stop := make(chan struct{})
	var filler sync.WaitGroup
	filler.Go(func() {
		for i := 0; i < 1_000_000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := p.Go(func() { time.Sleep(10 * time.Microsecond) }); err != nil && !errors.Is(err, ErrPoolOverload) {
				t.Error(err)
				return
			}
		}
	})
	var wantPanics, refused atomic.Int64
	accepted := make([][]int, keys)
	var subs sync.WaitGroup
	for k := range keys {
		subs.Go(func() {
			kk := ks[k]
			for seq := range perKey {
				bad := seq%17 == 5
				err := kk.s.Submit(func() {
					if kk.running.Add(1) != 1 {
						t.Errorf("key %d: two tasks at once", k)
					}
					defer kk.running.Add(-1)
					kk.mu.Lock()
					kk.ran = append(kk.ran, seq)
					kk.mu.Unlock()
					if seq%5 == 0 {
						time.Sleep(20 * time.Microsecond)
					}
					if bad {
						panic("review12")
					}
				})
				switch {
				case err == nil:
					accepted[k] = append(accepted[k], seq)
					if bad {
						wantPanics.Add(1)
					}
				case pol == FailFast && errors.Is(err, ErrPoolOverload):
					refused.Add(1)
				default:
					t.Errorf("key %d: Submit(%d) = %v", k, seq, err)
					return
				}
			}
		})
	}
	subsDone := make(chan struct{})
	go func() { subs.Wait(); close(subsDone) }()
	recv(t, subsDone, "the submitters")
	close(stop)
	filler.Wait()
	waitFor(t, "the Serials to drain", func() bool {
		for k, kk := range ks {
			kk.mu.Lock()
			n := len(kk.ran)
			kk.mu.Unlock()
			if n < len(accepted[k]) {
				return false
			}
		}
		return p.Stats().Running == 0
	})
	for k, kk := range ks {
		kk.mu.Lock()
		got := kk.ran
		kk.mu.Unlock()
		if fmt.Sprint(got) != fmt.Sprint(accepted[k]) {
			t.Errorf("key %d ran %d tasks, %d accepted; order or set differs:\nran      %v\naccepted %v", k, len(got), len(accepted[k]), got, accepted[k])
		}
	}
	if got, want := panics.Load(), wantPanics.Load(); got != want {
		t.Errorf("%d panics reported, want %d", got, want)
	}
	t.Logf("refused %d of %d; pool %+v", refused.Load(), keys*perKey, p.Stats())
}

// TestReview12PanicsKeepPoolServing: every task of a one-worker pool
// panics, on workers and (CallerRuns) on the submitter. Each is counted
// once as completed and once as panicked, nothing stays running, no
// submitter sees the panic, and the pool then runs tasks as before.
func TestReview12PanicsKeepPoolServing(t *testing.T) {
	for _, pol := range []Policy{Block, CallerRuns} {
		t.Run(pol.String(), func(t *testing.T) {
			checkNoLeak(t)
			p := newPool(t, WithCapacity(1), WithPolicy(pol), WithPanicHandler(func(any, []byte) {}))
			const n = 200
			s := p.NewSerial()
			for i := range n {
				var err error
				var panicked any
				if i%2 == 0 {
					panicked, err = catch(func() error { return p.Go(func() { panic(i) }) })
				} else {
					panicked, err = catch(func() error { return s.Submit(func() { panic(i) }) })
				}
				if panicked != nil || err != nil {
					t.Fatalf("submission %d: error %v, submitter panicked with %v", i, err, panicked)
				}
			}
			waitFor(t, "every panic counted", func() bool {
				st := p.Stats()
				return st.Panics == n && st.Completed == n && st.Running == 0
			})
			done := make(chan struct{})
			if err := s.Submit(func() { close(done) }); err != nil {
				t.Fatal(err)
			}
			recv(t, done, "a task after the panics")
		})
	}
}

// TestReview12ReleaseTimeoutQueuedSerialTasks: Release whose ctx ends
// while a Serial's task runs returns the ctx error; the tasks queued
// behind it were accepted, so they still run (on the same worker, after
// it), in order, and then every goroutine is gone.
func TestReview12ReleaseTimeoutQueuedSerialTasks(t *testing.T) {
	checkNoLeak(t)
	p, err := New(WithCapacity(2))
	if err != nil {
		t.Fatal(err)
	}
	s := p.NewSerial()
	gate, started := make(chan struct{}), make(chan struct{})
	var order []int
	var mu sync.Mutex
	if err := s.Submit(func() { close(started); <-gate }); err != nil {
		t.Fatal(err)
	}
	recv(t, started, "the first task")
	for i := range 3 {
		if err := s.Submit(func() { mu.Lock(); order = append(order, i); mu.Unlock() }); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Release(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Release = %v, want DeadlineExceeded", err)
	}
	if err := s.Submit(func() {}); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("Submit after Release = %v, want ErrPoolClosed", err)
	}
	close(gate)
	waitFor(t, "the queued tasks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 3
	})
	if fmt.Sprint(order) != "[0 1 2]" {
		t.Fatalf("queued tasks ran as %v", order)
	}
	waitFor(t, "nothing running", func() bool { return p.Stats().Running == 0 })
	if err := p.Close(); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("Close after Release = %v, want ErrPoolClosed", err)
	}
}
