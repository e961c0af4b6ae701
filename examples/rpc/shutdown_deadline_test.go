package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestServerShutdownDeadlineSleepingHandlers: the example server's
// Shutdown with handlers asleep (untagged sleeps, served in the
// handler) returns ctx's error at its deadline, not once the sleeps
// end; it leaves their connections open (the calls still wait), and
// Close then ends them. On each dispatch mode where the handler sleeps
// on a goroutine of its own or on the poller. Inline, one connection:
// a handler asleep there stalls its poller, and another connection's
// request, left in the kernel, is not buffered input, so Shutdown
// closes that connection as idle.
func TestServerShutdownDeadlineSleepingHandlers(t *testing.T) {
	const sleep, grace = 1500 * time.Millisecond, 100 * time.Millisecond
	startDialGroup(t)
	for _, mode := range []struct {
		name    string
		d       netpoll.Dispatch
		clients int
	}{{"handoff", netpoll.DispatchHandoff, 2}, {"inline", netpoll.DispatchInline, 1}} {
		t.Run(mode.name, func(t *testing.T) {
			fds, gs := countFDs(t), goroutines()
			s, err := netpoll.NewServer(handler(DefaultMaxFrame), netpoll.WithDispatch(mode.d),
				netpoll.WithOnConnect(serverOnConnect), netpoll.WithOnDisconnect(serverOnDisconnect))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := s.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(ln)
			clients := mode.clients
			errs := make(chan error, clients)
			var cls []*Client
			for range clients {
				cl := dialTestClient(t, ln.Addr().String(), DefaultMaxFrame)
				cls = append(cls, cl)
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					_, err := cl.CallContext(ctx, OpSleep, sleepArg(sleep, "slow"))
					errs <- err
				}()
			}
			time.Sleep(100 * time.Millisecond) // the handlers sleep
			ctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			start := time.Now()
			err = s.Shutdown(ctx)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown with handlers asleep: %v, want context.DeadlineExceeded", err)
			}
			if took > sleep/2 {
				t.Fatalf("Shutdown returned after %v, its deadline %v: it waited for the sleeps (%v)", took, grace, sleep)
			}
			select {
			case err := <-errs:
				t.Fatalf("a call ended (%v) while its handler slept: Shutdown closed a busy connection", err)
			default:
			}
			s.Close()
			for i, err := range collect(t, errs, clients, 5*time.Second) {
				if err == nil {
					t.Fatalf("call %d answered after Close", i)
				}
			}
			for _, cl := range cls {
				cl.Close()
			}
			checkNoLeaks(t, fds, gs)
		})
	}
}
