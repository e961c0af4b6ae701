package testutil

import (
	"sync"
	"testing"
	"time"
)

// pollEvery is how often WaitFor re-evaluates its condition.
const pollEvery = 5 * time.Millisecond

// WaitFor evaluates cond every few milliseconds until it reports true or
// d has passed, and reports whether it did. cond is evaluated once more
// after the deadline, so a condition that became true during the last
// sleep is not missed.
func WaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(pollEvery)
	}
	return cond()
}

// Recv receives one value from ch, or reports false once d has passed.
func Recv[T any](ch <-chan T, d time.Duration) (T, bool) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v, true
	case <-timer.C:
		var zero T
		return zero, false
	}
}

// Receive receives one value from ch, failing t if none comes within d;
// what names the value in the failure.
func Receive[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	v, ok := Recv(ch, d)
	if !ok {
		t.Fatalf("no %s within %v", what, d)
	}
	return v
}

// WaitGroup waits for wg, failing t if it has not finished within d;
// what names the goroutines waited for. The goroutine that waits stays
// behind when it fails, which the test's failure makes harmless.
func WaitGroup(t testing.TB, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if _, ok := Recv(done, d); !ok {
		t.Fatalf("%s still running after %v", what, d)
	}
}
