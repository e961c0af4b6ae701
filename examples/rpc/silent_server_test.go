package main

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// silentServer accepts connections and reads whatever comes until the
// client closes, never answering and never closing first: a server
// that hangs.
func silentServer(t *testing.T) string {
	return rawServer(t, func(_ int, c net.Conn) { io.Copy(io.Discard, c) })
}

// startDialGroup makes sure that netpoll's default dial group, which a
// Client's connection joins, has started its poller (on its first dial,
// kept for good): fds and goroutines counted after it do not count it.
func startDialGroup(t *testing.T) {
	dialTestClient(t, silentServer(t), DefaultMaxFrame).Close()
}

// endsWithin runs n calls of call at once and returns their errors,
// failing the test unless all have returned within limit.
func endsWithin(t *testing.T, n int, limit time.Duration, call func() error) []error {
	t.Helper()
	errs := make(chan error, n)
	for range n {
		go func() { errs <- call() }()
	}
	out := make([]error, 0, n)
	deadline := time.After(limit)
	for i := range n {
		select {
		case err := <-errs:
			out = append(out, err)
		case <-deadline:
			t.Fatalf("%d of %d calls to a silent server still waiting after %v", n-i, n, limit)
		}
	}
	return out
}

// TestSilentServerCallsEnd: a server that accepts and then neither
// answers nor closes. A Pool's calls end with its Timeout
// (ErrCallTimeout) or their ctx, leaving no entry in the pending table;
// a Client's CallContext ends with its ctx, a second call waiting for
// its turn as well, and later calls return the error. Then closing the
// client releases its fds and goroutines. Before, a Client's call had
// no bound at all: only Close ended it.
func TestSilentServerCallsEnd(t *testing.T) {
	const calls, bound = 8, 200 * time.Millisecond
	startDialGroup(t)
	t.Run("Pool.Timeout", func(t *testing.T) {
		addr := silentServer(t)
		fds, gs := countFDs(t), goroutines()
		p, err := DialPool(context.Background(), "tcp", addr, PoolConfig{Conns: 2, Timeout: bound})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for i, err := range endsWithin(t, calls, 10*bound, func() error {
			_, err := p.Call(context.Background(), OpEcho, []byte("x"))
			return err
		}) {
			if !errors.Is(err, ErrCallTimeout) {
				t.Fatalf("call %d: %v, want ErrCallTimeout", i, err)
			}
		}
		for i, m := range p.conns {
			if n := pendingLen(m); n != 0 || !m.open() {
				t.Fatalf("connection %d after the timeouts: %d pending, open %v; want 0, true", i, n, m.open())
			}
		}
		p.Close()
		checkNoLeaks(t, fds, gs)
	})
	t.Run("Pool ctx", func(t *testing.T) {
		addr := silentServer(t)
		p := dialTestPool(t, addr, PoolConfig{Conns: 2})
		for i, err := range endsWithin(t, calls, 10*bound, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			_, err := p.Call(ctx, OpEcho, []byte("x"))
			return err
		}) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("call %d: %v, want context.DeadlineExceeded", i, err)
			}
		}
		for i, m := range p.conns {
			if n := pendingLen(m); n != 0 {
				t.Fatalf("connection %d: %d calls pending after their ctx ended, want 0", i, n)
			}
		}
	})
	for _, how := range []string{"deadline", "cancel"} {
		t.Run("Client "+how, func(t *testing.T) {
			addr := silentServer(t)
			fds, gs := countFDs(t), goroutines()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			cl, err := DialClient(ctx, "tcp", addr, DefaultMaxFrame)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			want := context.DeadlineExceeded
			ctx, cancel = context.WithTimeout(context.Background(), bound)
			if how == "cancel" {
				want = context.Canceled
				ctx, cancel = context.WithCancel(context.Background())
				time.AfterFunc(bound, cancel)
			}
			defer cancel()
			// The first call sends its request and waits for the answer.
			first := make(chan error, 1)
			go func() {
				_, err := cl.CallContext(ctx, OpEcho, []byte("x"))
				first <- err
			}()
			if !settleFor(5*time.Second, func() bool { return len(cl.turn) == 1 }) {
				t.Fatal("the first call did not start")
			}
			// The second waits for its turn, with a ctx of its own.
			for _, err := range endsWithin(t, 1, 10*bound, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), bound/4)
				defer cancel()
				_, err := cl.CallContext(ctx, OpEcho, []byte("y"))
				return err
			}) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("a call waiting for its turn: %v, want context.DeadlineExceeded", err)
				}
			}
			for _, err := range collect(t, first, 1, 10*bound) {
				if !errors.Is(err, want) {
					t.Fatalf("a call to a silent server: %v, want %v", err, want)
				}
			}
			if _, err := cl.Call(OpEcho, []byte("later")); !errors.Is(err, want) {
				t.Fatalf("a later call: %v, want the first call's error (%v)", err, want)
			}
			cl.Close()
			checkNoLeaks(t, fds, gs)
		})
	}
}
