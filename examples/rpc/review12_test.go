package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// resetConn closes c with SO_LINGER 0: the kernel answers with a reset
// instead of a FIN.
func resetConn(c net.Conn) {
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

// collect receives n results from errs and fails the test if one is
// not there within limit of the one before.
func collect(t *testing.T, errs <-chan error, n int, limit time.Duration) []error {
	t.Helper()
	out := make([]error, 0, n)
	for i := range n {
		select {
		case err := <-errs:
			out = append(out, err)
		case <-time.After(limit):
			t.Fatalf("%d of %d calls still waiting %v after the previous one returned", n-i, n, limit)
		}
	}
	return out
}

// holdingServer accepts connections, hands each to the test on
// accepted once it has read reads requests, and keeps it open, neither
// answering nor reading more, until release is called (or the test
// ends); the connection's goroutine then closes it and returns.
func holdingServer(t *testing.T, reads int) (addr string, accepted <-chan net.Conn, release func()) {
	ch := make(chan net.Conn, 4)
	stop := make(chan struct{})
	addr = rawServer(t, func(_ int, c net.Conn) {
		for range reads {
			if _, _, err := readRequest(c); err != nil {
				return
			}
		}
		ch <- c
		<-stop
	})
	release = sync.OnceFunc(func() { close(stop) })
	t.Cleanup(release) // before rawServer's, which waits for it
	return addr, ch, release
}

// checkNoLeaks fails the test unless the fds and goroutines settle back
// to fds and gs.
func checkNoLeaks(t *testing.T, fds, gs int) {
	t.Helper()
	if !settleFor(5*time.Second, func() bool { return countFDs(t) <= fds }) {
		t.Errorf("fds: %d after, %d before", countFDs(t), fds)
	}
	if !settleFor(5*time.Second, func() bool { return goroutines() <= gs }) {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d after, %d before\n%s", goroutines(), gs, buf[:runtime.Stack(buf, true)])
	}
}

// TestPoolResetFailsCallsInFlight: a server that takes 20 requests on
// the pool's one connection and then resets it (SO_LINGER 0). Every call
// in flight returns at once with an error that wraps ErrConnClosed (the
// connection closed with calls in flight, as ErrConnClosed's doc says)
// and the reason, ECONNRESET. A later call fails with ErrConnClosed,
// and closing the pool releases its fds and goroutines. Before, the
// calls got the reset alone, not ErrConnClosed: a caller that retries
// on ErrConnClosed took a reset for another kind of failure.
func TestPoolResetFailsCallsInFlight(t *testing.T) {
	const calls = 20
	addr, accepted, release := holdingServer(t, calls)
	fds, gs := countFDs(t), goroutines() // the listener's included
	p, err := DialPool(context.Background(), "tcp", addr, PoolConfig{Conns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			_, err := p.Call(context.Background(), OpEcho, fmt.Appendf(nil, "call-%d", i))
			errs <- err
		}()
	}
	select {
	case c := <-accepted:
		resetConn(c)
	case <-time.After(5 * time.Second):
		t.Fatalf("the server did not get %d requests", calls)
	}
	for i, err := range collect(t, errs, calls, 5*time.Second) {
		if !errors.Is(err, ErrConnClosed) || !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("call %d after a reset: %v; want an error wrapping ErrConnClosed and ECONNRESET", i, err)
		}
	}
	if _, err := p.Call(context.Background(), OpEcho, []byte("later")); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("a call after the reset: %v, want ErrConnClosed", err)
	}
	p.Close()
	release()
	checkNoLeaks(t, fds, gs)
}

// TestPoolBadFrameWrapsConnClosed: the calls failed by a bad frame
// (here a length over the limit) get an error that wraps both the
// frame's fault and ErrConnClosed, as their connection closed under
// them.
func TestPoolBadFrameWrapsConnClosed(t *testing.T) {
	const max = 1 << 10
	addr := rawServer(t, func(_ int, c net.Conn) {
		id, _, err := readRequest(c)
		if err != nil {
			return
		}
		c.Write(response(IDLen+max+1, id, ""))
		readRequest(c) // until the client closes
	})
	p := dialTestPool(t, addr, PoolConfig{Conns: 1, Max: max, Timeout: 5 * time.Second})
	_, err := p.Call(context.Background(), OpEcho, []byte("x"))
	if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call answered with a frame over the limit: %v; want ErrFrameTooLarge and ErrConnClosed", err)
	}
}

// fillSend makes calls with 256 KiB arguments on p, whose one
// connection goes to a server that does not read, until one blocks in
// its send (holding the turn). It returns how many it made; each sends
// its result on errs, which must hold 200.
func fillSend(t *testing.T, p *Pool, errs chan<- error) int {
	t.Helper()
	arg := bytes.Repeat([]byte{'a'}, 256<<10)
	for calls := 1; calls <= 200; calls++ {
		go func() {
			_, err := p.Call(context.Background(), OpEcho, arg)
			errs <- err
		}()
		time.Sleep(10 * time.Millisecond)
		if p.conns[0].holdsTurn(100 * time.Millisecond) {
			return calls
		}
	}
	t.Fatal("200 calls of 256 KiB to a server that never reads: none blocked in its send")
	return 0
}

// TestPoolBlockedSendEnds: with no timeout and no deadline, calls to a
// server that never reads pile up until one blocks in its send. A reset
// from the server, or the pool's Close, ends every one of them, the
// blocked send included, with ErrConnClosed.
func TestPoolBlockedSendEnds(t *testing.T) {
	for _, how := range []string{"reset", "Pool.Close"} {
		t.Run(how, func(t *testing.T) {
			addr, accepted, release := holdingServer(t, 0)
			fds, gs := countFDs(t), goroutines() // the listener's included
			p, err := DialPool(context.Background(), "tcp", addr, PoolConfig{Conns: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			var srv net.Conn
			select {
			case srv = <-accepted:
			case <-time.After(5 * time.Second):
				t.Fatal("the pool's connection was not accepted")
			}
			errs := make(chan error, 200)
			calls := fillSend(t, p, errs)
			if how == "reset" {
				resetConn(srv)
			} else {
				p.Close()
			}
			for i, err := range collect(t, errs, calls, 5*time.Second) {
				if !errors.Is(err, ErrConnClosed) {
					t.Fatalf("call %d of %d: %v, want ErrConnClosed", i, calls, err)
				}
			}
			p.Close()
			release()
			checkNoLeaks(t, fds, gs)
		})
	}
}

// TestPoolDuplicateAnswers: a server that answers every request twice.
// The second answer, to an id whose call has its answer, is dropped:
// each call gets its own argument back, and the connection stays open.
func TestPoolDuplicateAnswers(t *testing.T) {
	addr := rawServer(t, func(_ int, c net.Conn) {
		for {
			id, arg, err := readRequest(c)
			if err != nil {
				return
			}
			a := response(uint32(IDLen+len(arg)), id, string(arg))
			if _, err := c.Write(append(a, a...)); err != nil {
				return
			}
		}
	})
	p := dialTestPool(t, addr, PoolConfig{Conns: 1, Timeout: 10 * time.Second})
	for round := range 3 {
		callEach(t, p, 50, fmt.Sprintf("round-%d", round))
	}
	if !p.conns[0].open() {
		t.Fatal("the connection closed on duplicate answers")
	}
}

// TestClientEndsOnCloseOrReset: a serialized Client's Call waiting for
// an answer that does not come returns once the Client is closed or the
// server resets the connection, and later calls return that error.
func TestClientEndsOnCloseOrReset(t *testing.T) {
	for _, how := range []string{"reset", "Client.Close"} {
		t.Run(how, func(t *testing.T) {
			addr, accepted, _ := holdingServer(t, 0)
			cl := dialTestClient(t, addr, DefaultMaxFrame)
			var srv net.Conn
			select {
			case srv = <-accepted:
			case <-time.After(5 * time.Second):
				t.Fatal("the client's connection was not accepted")
			}
			errs := make(chan error, 1)
			go func() {
				_, err := cl.Call(OpEcho, []byte("x"))
				errs <- err
			}()
			time.Sleep(50 * time.Millisecond) // the call waits for its answer
			if how == "reset" {
				resetConn(srv)
			} else {
				cl.Close()
			}
			first := collect(t, errs, 1, 5*time.Second)[0]
			if first == nil {
				t.Fatal("a call with no answer returned no error")
			}
			if _, err := cl.Call(OpEcho, []byte("y")); !errors.Is(err, first) {
				t.Fatalf("a later call: %v, want the first call's error (%v)", err, first)
			}
		})
	}
}

// TestServerShutdownEndsPoolCalls: the example server's Shutdown with
// a pool's calls in flight, half of them tagged sleeps of 3 s waiting on
// timers. Netpoll's Shutdown closes a connection once no handler runs
// on it and it has no input or output buffered; answers waiting on
// timers do not count, and are dropped with their connection. Shutdown
// returns well before the sleeps end, and every call returns: the quick
// ones answered, the sleeps with ErrConnClosed.
func TestServerShutdownEndsPoolCalls(t *testing.T) {
	skipUnderInline(t)
	s, addr, err := startServer("127.0.0.1:0", DefaultMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := dialTestPool(t, addr, PoolConfig{Conns: 2, Timeout: 20 * time.Second})
	const calls = 60
	errs := make(chan error, calls)
	for i := range calls {
		go func() {
			if i%2 == 0 {
				_, err := p.Call(context.Background(), OpSleep, sleepArg(3*time.Second, "slow"))
				errs <- err
				return
			}
			arg := fmt.Sprintf("quick-%d", i)
			got, err := p.Call(context.Background(), OpEcho, []byte(arg))
			if err == nil && string(got) != arg {
				err = fmt.Errorf("got %q, want %q", got, arg)
			}
			errs <- err
		}()
	}
	quick := 0
	for _, err := range collect(t, errs, calls/2, 5*time.Second) {
		if err != nil {
			t.Fatalf("a quick call: %v", err)
		}
		quick++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with sleeps waiting: %v", err)
	}
	for i, err := range collect(t, errs, calls-quick, 2*time.Second) {
		if !errors.Is(err, ErrConnClosed) {
			t.Fatalf("sleep %d after Shutdown: %v, want ErrConnClosed", i, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown and the failed calls took %v; the sleeps were of 3 s", d)
	}
}

// TestPoolBadHeaderAlone: a server that answers with a length prefix
// alone, over the limit or too short for an id, and then sends nothing
// more, keeping the connection open. The prefix is enough to judge the
// frame: the call fails at once with the frame's fault, and the
// connection closes. Before, the client judged a frame only once the
// id's 4 bytes had come too: the call waited for its timeout, and every
// later call on the connection as well, as nothing closed it.
func TestPoolBadHeaderAlone(t *testing.T) {
	const max = 1 << 10
	tests := []struct {
		name   string
		prefix []byte
		want   error
	}{
		{"over limit", []byte{0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		{"no room for an id", []byte{0, 0, 0, 2}, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stop := make(chan struct{})
			addr := rawServer(t, func(_ int, c net.Conn) {
				if _, _, err := readRequest(c); err != nil {
					return
				}
				c.Write(tt.prefix)
				<-stop
			})
			t.Cleanup(func() { close(stop) }) // before rawServer's, which waits for it
			p := dialTestPool(t, addr, PoolConfig{Conns: 1, Max: max, Timeout: 3 * time.Second})
			start := time.Now()
			_, err := p.Call(context.Background(), OpEcho, []byte("x"))
			if !errors.Is(err, tt.want) || !errors.Is(err, ErrConnClosed) {
				t.Fatalf("call answered with the prefix %x alone: %v after %v; want %v and ErrConnClosed",
					tt.prefix, err, time.Since(start), tt.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("the call failed after %v, its timeout 3 s", d)
			}
			if p.conns[0].open() {
				t.Fatal("the connection is open after a bad length prefix")
			}
		})
	}
}
