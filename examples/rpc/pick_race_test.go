package main

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// blockedOnLock reports whether a goroutine waits for a sync.Mutex in
// the function named fn (a name in a stack trace).
func blockedOnLock(fn string) bool {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, fn) && strings.Contains(g, "sync.(*Mutex).Lock") {
			return true
		}
	}
	return false
}

// TestPoolConnFailsBetweenPickAndRegister: a call picks its connection
// (pick looks at it under its lock) and then registers on it (under the
// lock again). A connection that fails in between refuses the call
// before anything is sent; the call used to return that connection's
// error, wrapping ErrConnClosed, although the pool had another
// connection open. It now goes on to the other one.
//
// The interleaving is forced with the first connection's lock: the
// test holds it while the call waits in pick and the connection's
// OnDisconnect (the pool's muxDisconnect, after a Close) waits in fail;
// it lets go, takes it again at once and lets go a few milliseconds
// later. The call has then waited over a millisecond without getting
// the lock, which puts the lock in its starvation mode: it goes to its
// waiters in turn, and a goroutine that asks for it joins the end of
// the queue. So the call looks at the connection first, fail runs
// next, and then the call registers. Should the scheduler give another
// order, the call registers before fail, is in flight when its
// connection fails and rightly fails with it: the round is tried
// again, up to 5 times, and then the test skips.
func TestPoolConnFailsBetweenPickAndRegister(t *testing.T) {
	for round := range 5 {
		addr := startTestServer(t, DefaultMaxFrame)
		p := dialTestPool(t, addr, PoolConfig{Conns: 2, Timeout: 5 * time.Second})
		m := p.conns[0]
		p.next.Store(uint32(len(p.conns) - 1)) // the next pick starts at conns[0]
		type answer struct {
			payload []byte
			err     error
		}
		done := make(chan answer, 1)
		m.mu.Lock()
		go func() {
			got, err := p.Call(context.Background(), OpEcho, []byte("x"))
			done <- answer{got, err}
		}()
		forced := settleFor(5*time.Second, func() bool { return blockedOnLock("rpc.(*muxConn).open(") })
		if forced {
			go m.c.Close()
			forced = settleFor(5*time.Second, func() bool { return blockedOnLock("rpc.(*muxConn).fail(") })
		}
		time.Sleep(2 * time.Millisecond)
		m.mu.Unlock()
		m.mu.Lock()
		time.Sleep(5 * time.Millisecond)
		m.mu.Unlock()
		if !forced {
			t.Fatal("the call or the close did not wait for the connection's lock")
		}
		var a answer
		select {
		case a = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the call did not return")
		}
		m.mu.Lock()
		issued := m.nextID - 1
		m.mu.Unlock()
		if issued != 0 {
			t.Logf("round %d: the call registered before the connection failed (%v)", round, a.err)
			continue
		}
		if a.err != nil || string(a.payload) != "x" {
			t.Fatalf("a call refused by a connection that failed after pick chose it: %q, %v; want \"x\" from the other connection", a.payload, a.err)
		}
		return
	}
	t.Skip("the scheduler never gave the interleaving in 5 rounds")
}
