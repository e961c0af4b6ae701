package gopool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReleaseWaitsForInlineTasks races Release against submitters that
// find the pool full under CallerRuns, round after round. A submission
// either fails with ErrPoolClosed or its task runs, and then it is one
// of the tasks Release waits for: none may still run, or start, once
// Release's wait is over (p.idle closed). A submitter that had found the
// pool full but had not yet counted itself as running inline was missed
// by Release, which then returned while the task ran.
func TestReleaseWaitsForInlineTasks(t *testing.T) {
	checkNoLeak(t)
	const submitters, perSubmitter = 4, 2000
	rounds, budget := 1000, 10*time.Second
	if testing.Short() {
		rounds, budget = 200, 3*time.Second
	}
	start := time.Now()
	var round, late int
	for round = 0; round < rounds && time.Since(start) < budget && late == 0; round++ {
		late = releaseRace(t, submitters, perSubmitter)
	}
	t.Logf("%d rounds in %v", round, time.Since(start))
	if late > 0 {
		t.Fatalf("round %d: %d accepted tasks ran after Release stopped waiting", round, late)
	}
}

// releaseRace runs one round of TestReleaseWaitsForInlineTasks and
// returns how many tasks ran once Release's wait was over.
func releaseRace(t *testing.T, submitters, perSubmitter int) int {
	t.Helper()
	p, err := New(WithCapacity(1), WithPolicy(CallerRuns))
	if err != nil {
		t.Fatal(err)
	}
	var late, ran atomic.Int64
	task := func() {
		ran.Add(1)
		select {
		case <-p.idle:
			late.Add(1)
		default:
		}
	}
	var wg sync.WaitGroup
	for i := range submitters {
		wg.Go(func() {
			s := p.NewSerial()
			for range perSubmitter {
				var err error
				if i%2 == 0 {
					err = p.Go(task)
				} else {
					err = s.Submit(task)
				}
				if errors.Is(err, ErrPoolClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Release once the submitters are under way.
	for deadline := time.Now().Add(5 * time.Second); ran.Load() < int64(submitters) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Microsecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Release(ctx); err != nil {
		t.Fatalf("Release: %v", err)
	}
	wg.Wait()
	return int(late.Load())
}
