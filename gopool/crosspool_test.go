package gopool

import (
	"testing"
)

// TestBlockFromOtherPoolTaskRunsInline: a task of one Pool that submits
// under Block to another Pool that is full does not wait for it: the
// task runs on the submitter's goroutine (doc.go, "Nested submission"),
// beside the full pool's workers. Tasks of two pools that wait for each
// other would otherwise close a cycle.
func TestBlockFromOtherPoolTaskRunsInline(t *testing.T) {
	checkNoLeak(t)
	a := newPool(t, WithCapacity(1), WithPolicy(Block))
	b := newPool(t, WithCapacity(1), WithPolicy(Block))
	release := make(chan struct{})
	busy := make(chan struct{})
	if err := b.Go(func() { close(busy); <-release }); err != nil {
		t.Fatal(err)
	}
	recv(t, busy, "b's only worker to start")
	defer close(release)
	ran := make(chan bool, 1)
	if err := a.Go(func() {
		inA := make(chan bool, 1)
		// b is full: from a's task the submission runs the task here.
		if err := b.Go(func() { inA <- insideTask() }); err != nil {
			t.Error(err)
		}
		select {
		case v := <-inA:
			ran <- v
		default:
			ran <- false // queued behind b's busy worker: it waited or went elsewhere
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !recv(t, ran, "a's task to submit to b") {
		t.Fatal("the task submitted to the full pool b from a task of a did not run inline on a's worker")
	}
}
