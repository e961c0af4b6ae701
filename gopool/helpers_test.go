package gopool

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// waitFor fails the test unless cond holds within 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !testutil.WaitFor(5*time.Second, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// recv receives from ch or fails the test after 5 s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	return testutil.Receive(t, ch, 5*time.Second, what)
}

// goid returns the calling goroutine's id, parsed from its stack header.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	b = b[:bytes.IndexByte(b, ' ')]
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// checkNoLeak records the goroutine count and, at cleanup, waits (bounded)
// for it to come back down. It counts every goroutine, idle ants workers
// included, unlike testutil.CheckLeaks: here the pool's own workers are
// what must not leak.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		var now int
		deadline := time.Now().Add(5 * time.Second)
		for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
			if now = runtime.NumGoroutine(); now <= before {
				return
			}
			time.Sleep(time.Millisecond)
		}
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after\n%s", before, now, buf[:runtime.Stack(buf, true)])
	})
}

func newPool(t *testing.T, opts ...Option) *Pool {
	t.Helper()
	p, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Release(ctx); err != nil && !errors.Is(err, ErrPoolClosed) {
			t.Errorf("Release: %v", err)
		}
	})
	return p
}
