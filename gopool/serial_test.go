package gopool

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestSerialOrder submits 1,000 tasks to each of 1,000 Serials from four
// goroutines, interleaving keys, and checks that every key sees its tasks
// in order and never two at once.
func TestSerialOrder(t *testing.T) {
	checkNoLeak(t)
	keys, perKey := 1000, 1000
	if testing.Short() {
		keys, perKey = 100, 100
	}
	// Each submitter gives a key chunk tasks in a row before moving to the
	// next key, so that most Submits find the Serial running (the common
	// case for a busy connection) and some find it idle.
	const submitters, chunk = 4, 8
	p := newPool(t, WithCapacity(64))
	type key struct {
		s       *Serial
		next    int // touched only by the key's tasks: the race detector checks exclusion
		running atomic.Int32
		bad     atomic.Int32
	}
	ks := make([]*key, keys)
	for i := range ks {
		ks[i] = &key{s: p.NewSerial()}
	}
	var wg sync.WaitGroup
	wg.Add(keys * perKey)
	var submitWG sync.WaitGroup
	for g := range submitters {
		submitWG.Add(1)
		go func() {
			defer submitWG.Done()
			for base := 0; base < perKey; base += chunk {
				for k := g; k < keys; k += submitters {
					for seq := base; seq < min(base+chunk, perKey); seq++ {
						kk := ks[k]
						err := kk.s.Submit(func() {
							defer wg.Done()
							if kk.running.Add(1) != 1 {
								kk.bad.Add(1)
							}
							if kk.next != seq {
								kk.bad.Add(1)
							}
							kk.next = seq + 1
							kk.running.Add(-1)
						})
						if err != nil {
							t.Error(err)
							wg.Done()
						}
					}
				}
			}
		}()
	}
	testutil.WaitGroup(t, &submitWG, 60*time.Second, "the submitters")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	recv(t, done, "all serial tasks")
	for i, k := range ks {
		if k.bad.Load() != 0 || k.next != perKey {
			t.Fatalf("key %d: %d violations, next = %d, want %d", i, k.bad.Load(), k.next, perKey)
		}
	}
	// A task's completion is counted after it returns, so the last few
	// may still be on their way when wg says every task body ran.
	waitFor(t, "completed count", func() bool { return p.Stats().Completed == int64(keys*perKey) })
}

// TestSerialIdleHoldsNoGoroutine checks that Serials with nothing queued
// keep no goroutine, and that a drained Serial gives a grown queue back.
func TestSerialIdleHoldsNoGoroutine(t *testing.T) {
	checkNoLeak(t)
	p := newPool(t, WithCapacity(0), WithExpiry(MinExpiry))
	serials := make([]*Serial, 100)
	done := make(chan struct{}, len(serials))
	gate := make(chan struct{})
	for i := range serials {
		serials[i] = p.NewSerial()
		serials[i].Submit(func() { <-gate })
		for range 2 * serialShrinkCap {
			serials[i].Submit(func() {})
		}
		serials[i].Submit(func() { done <- struct{}{} })
	}
	close(gate)
	for range serials {
		recv(t, done, "serial")
	}
	waitFor(t, "no running task", func() bool { return p.Stats().Running == 0 })
	// Idle workers expire; the ants pool keeps its two helper goroutines.
	waitFor(t, "idle workers to expire", func() bool { return p.workers.Running() == 0 })
	for i, s := range serials {
		s.mu.Lock()
		running, buf := s.running, s.buf
		s.mu.Unlock()
		if running || buf != nil {
			t.Fatalf("serial %d: running %v, queue %d after draining", i, running, len(buf))
		}
	}
}

func TestSerialSubmitAllocs(t *testing.T) {
	p := newPool(t, WithCapacity(4))
	s := p.NewSerial()
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	const batch = 16
	run := func() {
		wg.Add(batch)
		for range batch {
			if err := s.Submit(task); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
	}
	run() // grow the queue and start a worker
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocs per batch of %d Submits, want 0", n, batch)
	}
	if err := s.Submit(nil); err != ErrNilTask {
		t.Fatalf("Submit(nil) = %v", err)
	}
}

func TestGoAllocs(t *testing.T) {
	p := newPool(t, WithCapacity(4))
	var wg sync.WaitGroup
	task := func() { wg.Done() }
	run := func() {
		wg.Add(1)
		if err := p.Go(task); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocs per Go, want 0", n)
	}
}
