package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestIDsSpentErrorText: a connection that has spent its request ids
// is closed once idle, its reason errIDsSpent, which wraps
// ErrConnClosed. The error that its later calls get says "connection
// closed" once: it used to say it twice, as muxDisconnect wrapped
// ErrConnClosed around a reason that already did. A user's OnDisconnect
// gets errIDsSpent itself. The same when the call with the last id is
// answered (the handler closes the connection) and when it is
// abandoned (the call closes it).
func TestIDsSpentErrorText(t *testing.T) {
	const spent = "rpc: connection closed: request ids used up"
	if got := errIDsSpent.Error(); got != spent {
		t.Fatalf("errIDsSpent = %q, want %q", got, spent)
	}
	addr := startTestServer(t, DefaultMaxFrame)
	for _, how := range []string{"answered", "abandoned"} {
		t.Run(how, func(t *testing.T) {
			reasons := make(chan error, 1)
			hook := netpoll.WithOnDisconnect(func(_ *netpoll.Conn, err error) { reasons <- err })
			p := dialTestPool(t, addr, PoolConfig{Conns: 1, Timeout: 5 * time.Second, Options: []netpoll.Option{hook}})
			m := p.conns[0]
			m.mu.Lock()
			m.nextID = math.MaxUint32 // the last id
			m.mu.Unlock()
			if how == "answered" {
				if got, err := p.Call(context.Background(), OpEcho, []byte("last")); err != nil || string(got) != "last" {
					t.Fatalf("the call with the last id: %q, %v", got, err)
				}
			} else if _, err := m.call(context.Background(), OpSleep, sleepArg(time.Second, "late"), 20*time.Millisecond); !errors.Is(err, ErrCallTimeout) {
				t.Fatalf("the call with the last id: %v, want ErrCallTimeout", err)
			}
			select {
			case err := <-reasons:
				if how == "answered" && (err == nil || err.Error() != spent) {
					t.Fatalf("OnDisconnect's reason: %v, want %q", err, spent)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the spent connection was not closed")
			}
			want := fmt.Sprintf("rpc: connection to %v: %s", m.c.RemoteAddr(), spent)
			m.mu.Lock()
			failure := m.err
			m.mu.Unlock()
			if failure == nil || failure.Error() != want {
				t.Fatalf("the connection's failure: %v, want %q", failure, want)
			}
			_, err := m.call(context.Background(), OpEcho, []byte("x"), time.Second)
			if err == nil || err.Error() != want || !errors.Is(err, ErrConnClosed) || !errors.Is(err, errIDsSpent) {
				t.Fatalf("a call on the spent connection: %v; want %q, wrapping ErrConnClosed and errIDsSpent", err, want)
			}
			if _, err := p.Call(context.Background(), OpEcho, []byte("x")); !errors.Is(err, ErrConnClosed) || strings.Count(err.Error(), "connection closed") != 1 {
				t.Fatalf("a call on a pool whose connection is spent: %v, want ErrConnClosed, said once", err)
			}
		})
	}
}
