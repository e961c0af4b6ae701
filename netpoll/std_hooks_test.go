package netpoll

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestStdCloseBeforeStart closes each accepted connection between its
// registration and its start, as a Shutdown's sweep can, and checks that
// OnDisconnect runs once per connection and that Shutdown returns. The
// close starts a runner for OnDisconnect of its own; startStd, which
// looked at hRunning to decide whether it held the runner, ran it a
// second time, and the hook count fell below zero: Shutdown then waited
// until its context ended.
func TestStdCloseBeforeStart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		h         Handler
		onConnect bool
	}{
		{"handler", echoHandler, false},
		{"handler+OnConnect", echoHandler, true},
		{"accept-mode", nil, false},
		{"accept-mode+OnConnect", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 4
			var mu sync.Mutex
			calls := map[*Conn]int{}
			connects := 0
			opts := []Option{WithBackend(BackendStd), WithOnDisconnect(func(c *Conn, err error) {
				mu.Lock()
				calls[c]++
				mu.Unlock()
			})}
			if tc.onConnect {
				opts = append(opts, WithOnConnect(func(c *Conn) {
					mu.Lock()
					connects++
					mu.Unlock()
				}))
			}
			testHookStdRegistered = func(c *Conn) { c.Close() }
			t.Cleanup(func() { testHookStdRegistered = nil })
			s, addr := startServer(t, tc.h, opts...)
			for range n {
				dialTCP(t, addr)
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.Stats().TotalConns < n && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v (hooks due: %d)", err, s.owner.hooks.Load())
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != n {
				t.Fatalf("OnDisconnect ran for %d connections, want %d", len(calls), n)
			}
			for c, k := range calls {
				if k != 1 {
					t.Errorf("OnDisconnect ran %d times for %p, want once", k, c)
				}
			}
			if tc.onConnect && connects != n {
				t.Errorf("OnConnect ran %d times for %d connections", connects, n)
			}
		})
	}
}
