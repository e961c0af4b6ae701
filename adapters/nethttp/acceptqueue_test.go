package nethttp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// TestAcceptQueuePauses: with an accept queue of 4 and an application
// that does not call Accept, 12 connections arrive, each sending its id.
// The pollers accept 4 and stop (the others wait in the kernel's
// backlog, of which nothing is read); Accept then returns all 12, each
// once with its bytes, and the pause ends once the queue is down to
// half.
func TestAcceptQueuePauses(t *testing.T) {
	defer func(n int) { acceptQueue = n }(acceptQueue)
	acceptQueue = 4
	for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		t.Run(b.String(), func(t *testing.T) {
			opts := []netpoll.Option{netpoll.WithBackend(b)}
			if b != netpoll.BackendStd {
				// One poller, so that each OnConnect runs on the
				// accepting poller before its next accept, and the
				// pause comes at exactly the queue's worth. With more,
				// a hook may run on another poller's loop meanwhile:
				// the acceptors then stay within netpoll's bound of
				// hooks ahead (TestAcceptWaitsForHooks), not at the
				// queue.
				opts = append(opts, netpoll.WithPollers(1))
			}
			nl := listenOn(t, opts...)
			l := nl.(*listener)
			const n = 12
			for i := range n {
				c, err := net.DialTimeout("tcp", nl.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				defer c.Close()
				fmt.Fprintf(c, "%03d", i)
			}
			// The pollers take the queue's worth, then stop: wait for
			// them on a slow machine, then give them time to go on if
			// they were going to.
			testutil.WaitFor(5*time.Second, func() bool { return l.srv.Stats().LiveConns >= int64(acceptQueue) })
			time.Sleep(300 * time.Millisecond)
			// Under BackendStd the hooks that fill the queue run on
			// goroutines of their own, beside the accept loop, so how
			// many it accepts before the pause takes effect depends on
			// the scheduler: only what Accept returns is checked there.
			st := l.srv.Stats()
			if b != netpoll.BackendStd && (st.LiveConns != int64(acceptQueue) || st.AcceptPauses == 0) {
				t.Errorf("with the queue full: %d connections accepted, %d pauses; want %d and at least 1", st.LiveConns, st.AcceptPauses, acceptQueue)
			}
			seen := make(map[string]bool, n)
			for len(seen) < n {
				c, err := acceptWithin(nl, 5*time.Second)
				if err != nil {
					t.Fatalf("after %d of %d: %v", len(seen), n, err)
				}
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				id := make([]byte, 3)
				_, err = io.ReadFull(c, id)
				c.Close()
				if err != nil || seen[string(id)] {
					t.Fatalf("connection %q: %v, seen before: %v", id, err, seen[string(id)])
				}
				seen[string(id)] = true
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return !l.paused.Load() }) {
				t.Error("still paused with the queue empty")
			}
		})
	}
}

// TestListenMaxConns: netpoll.WithMaxConns(2) among Listen's options
// holds the listener at two connections returned by Accept and not yet
// closed; a third waits (Accept does not return it) until one of them
// closes, and then comes with the bytes it sent.
func TestListenMaxConns(t *testing.T) {
	for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		t.Run(b.String(), func(t *testing.T) {
			nl := listenOn(t, netpoll.WithBackend(b), netpoll.WithMaxConns(2))
			for i := range 3 {
				c, err := net.DialTimeout("tcp", nl.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				defer c.Close()
				fmt.Fprintf(c, "%03d", i)
			}
			accepted := make(chan net.Conn, 3)
			go func() {
				for {
					c, err := nl.Accept()
					if err != nil {
						return
					}
					accepted <- c
				}
			}()
			var held []net.Conn
			for range 2 {
				select {
				case c := <-accepted:
					defer c.Close()
					held = append(held, c)
				case <-time.After(5 * time.Second):
					t.Fatalf("Accept returned %d of 2 connections in 5 s", len(held))
				}
			}
			select {
			case c := <-accepted:
				c.Close()
				t.Fatal("a third connection was accepted at MaxConns 2")
			case <-time.After(300 * time.Millisecond):
			}
			held[0].Close()
			var c net.Conn
			select {
			case c = <-accepted:
				defer c.Close()
			case <-time.After(5 * time.Second):
				t.Fatal("the third connection was not accepted within 5 s of one closing")
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			id := make([]byte, 3)
			if _, err := io.ReadFull(c, id); err != nil {
				t.Fatalf("the third connection's bytes: %v", err)
			}
		})
	}
}

// listenOn is Listen on a loopback port with opts, skipping t where
// their backend cannot run here; the listener closes when t ends.
func listenOn(t *testing.T, opts ...netpoll.Option) net.Listener {
	t.Helper()
	nl, err := Listen("tcp", "127.0.0.1:0", opts...)
	if errors.Is(err, netpoll.ErrNoNativeBackend) || errors.Is(err, netpoll.ErrBackendUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nl.Close() })
	return nl
}
