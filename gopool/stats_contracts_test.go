package gopool

import (
	"sync"
	"testing"
)

// TestDocsStatsRunning checks the Stats field comments of pool.go,
// which no test checks with tasks running: Running "tasks running now,
// on workers or submitters; a draining Serial counts once", and Completed
// "tasks that have finished, panicked ones included".
func TestDocsStatsRunning(t *testing.T) {
	checkNoLeak(t)
	p := newPool(t, WithCapacity(1), WithPolicy(CallerRuns), WithPanicHandler(func(any, []byte) {}))
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // before the pool's Release, which waits for the tasks
	started := make(chan struct{}, 4)
	block := func() { started <- struct{}{}; <-release }
	s := p.NewSerial()
	for range 3 { // one draining Serial with three tasks queued
		if err := s.Submit(block); err != nil {
			t.Fatal(err)
		}
	}
	recv(t, started, "the Serial's first task")
	waitFor(t, "Running == 1: the Serial counted once", func() bool { return p.Stats().Running == 1 })
	// The pool is full: CallerRuns runs the next task on its submitter.
	inlineDone := make(chan error, 1)
	go func() { inlineDone <- p.Go(block) }()
	recv(t, started, "the task run on its submitter")
	waitFor(t, "Running == 2: the submitter's task counted", func() bool { return p.Stats().Running == 2 })
	unblock()
	if err := recv(t, inlineDone, "the submitter's Go"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Running == 0: the Serial drained", func() bool { return p.Stats().Running == 0 })
	if err := p.Go(func() { panic("boom") }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Completed == 5, the panicked task included", func() bool {
		st := p.Stats()
		return st.Completed == 5 && st.Panics == 1
	})
}
