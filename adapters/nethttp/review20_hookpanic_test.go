package nethttp

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// TestListenUserOnDisconnectPanics: netpoll recovers a panic of an
// OnDisconnect hook, so a caller's hook among Listen's options that
// panics closes nothing more than its connection. The listener's own
// bookkeeping, which runs in the same hook, must still count the
// connection out: once the listener and its last connection are closed,
// its pollers stop, as they do when the hook returns.
func TestListenUserOnDisconnectPanics(t *testing.T) {
	for _, b := range sockoptBackends() {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			var ran atomic.Int32
			ln, err := Listen("tcp", "127.0.0.1:0", netpoll.WithBackend(b),
				netpoll.WithOnDisconnect(func(*netpoll.Conn, error) {
					ran.Add(1)
					panic("review 20: the caller's OnDisconnect panics")
				}))
			if err != nil {
				t.Fatal(err)
			}
			srv := Server(ln)
			cl, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				ln.Close()
				t.Fatal(err)
			}
			defer cl.Close()
			c, err := ln.Accept()
			if err != nil {
				ln.Close()
				t.Fatal(err)
			}
			ln.Close()
			c.Close()
			if !testutil.WaitFor(5*time.Second, func() bool { return ran.Load() == 1 }) {
				t.Fatalf("OnDisconnect ran %d times in 5 s, want 1", ran.Load())
			}
			// A stopped Server refuses a dial before it connects.
			d := &netpoll.Dialer{Server: srv, Timeout: time.Second}
			stopped := testutil.WaitFor(5*time.Second, func() bool {
				dc, err := d.DialContext(context.Background(), "tcp", cl.LocalAddr().String())
				if dc != nil {
					dc.Close()
				}
				return errors.Is(err, netpoll.ErrServerClosed)
			})
			if !stopped {
				srv.Close() // for the leak check: the test has failed already
				t.Fatal("the listener's pollers still run 5 s after it and its only connection closed")
			}
		})
	}
}
