package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestPoolLargeResponse: a response larger than netpoll's default input
// bound (256 KiB for a server with a handler) but within the pool's Max
// arrives whole, and the connection serves the next call. Before the
// pool sized its connections' input bound to Max, the handler waited
// for a frame the poller would never finish reading, and every later
// call on that connection timed out.
func TestPoolLargeResponse(t *testing.T) {
	addr := startTestServer(t, DefaultMaxFrame)
	p := dialTestPool(t, addr, PoolConfig{Conns: 1, Timeout: 10 * time.Second})
	for _, size := range []int{300 << 10, DefaultMaxFrame - (1 + IDLen + 1)} {
		arg := bytes.Repeat([]byte{'x'}, size)
		got, err := p.Call(context.Background(), OpEcho, arg)
		if err != nil || !bytes.Equal(got, arg) {
			t.Fatalf("echo of %d bytes (Max %d): got %d bytes, %v", size, DefaultMaxFrame, len(got), err)
		}
	}
	got, err := p.Call(context.Background(), OpEcho, []byte("small"))
	if err != nil || string(got) != "small" {
		t.Fatalf("the next small call on the same connection: %q, %v", got, err)
	}
}

// neverReads is a server that accepts and never reads: a pool's
// requests fill the kernel's buffers, then its connection's MaxOutput.
func neverReads(t *testing.T) string {
	stop := make(chan struct{})
	addr := rawServer(t, func(_ int, c net.Conn) { <-stop })
	t.Cleanup(func() { close(stop) }) // before rawServer's, which waits for it
	return addr
}

// callWithin runs p.Call and fails the test unless it returns within
// limit; it returns the call's error.
func callWithin(t *testing.T, p *Pool, ctx context.Context, arg []byte, limit time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, OpEcho, arg)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		t.Fatalf("a call was still blocked %v after it began", limit)
		return nil
	}
}

// TestPoolTimeoutBoundsTheSend: against a server that does not read,
// a call's send waits above MaxOutput; the pool's timeout ends that
// wait as it ends the wait for a response, and the stuck connection
// is closed rather than left to pile up requests.
func TestPoolTimeoutBoundsTheSend(t *testing.T) {
	p := dialTestPool(t, neverReads(t), PoolConfig{Conns: 1, Timeout: 200 * time.Millisecond})
	arg := bytes.Repeat([]byte{'a'}, 256<<10)
	sawTimeout := false
	for i := range 200 { // up to 50 MiB: far more than the buffers hold
		err := callWithin(t, p, context.Background(), arg, 5*time.Second)
		switch {
		case errors.Is(err, ErrCallTimeout):
			sawTimeout = true
		case errors.Is(err, ErrConnClosed) && sawTimeout:
			return // the stuck connection was closed after a timed-out send
		default:
			t.Fatalf("call %d: %v, want ErrCallTimeout (then ErrConnClosed once the connection is closed)", i, err)
		}
	}
	t.Fatal("200 calls of 256 KiB to a server that never reads all timed out, and the connection stayed open")
}

// TestPoolCancelBoundsTheSend: the same with no pool timeout: a
// cancelled ctx ends the send's wait, and a call waiting for its turn
// behind it ends with its own ctx, writing nothing.
func TestPoolCancelBoundsTheSend(t *testing.T) {
	p := dialTestPool(t, neverReads(t), PoolConfig{Conns: 1})
	arg := bytes.Repeat([]byte{'a'}, 256<<10)
	// Calls that wait for their responses until ctx ends fill the
	// buffers until one blocks in its send, holding the turn.
	const most = 200
	results := make(chan error, most)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	for {
		if calls == most {
			t.Fatalf("%d calls of 256 KiB to a server that never reads: none blocked in its send", most)
		}
		calls++
		go func() {
			_, err := p.Call(ctx, OpEcho, arg)
			results <- err
		}()
		time.Sleep(10 * time.Millisecond)
		if p.conns[0].holdsTurn(100 * time.Millisecond) {
			break
		}
	}
	// A call waiting for its turn ends with its own deadline, and the
	// connection stays open: nothing of it was written.
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := callWithin(t, p, short, []byte("next"), 5*time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call waiting for its turn: %v, want context.DeadlineExceeded", err)
	}
	if !p.conns[0].open() {
		t.Fatal("a call that ended before its turn closed the connection")
	}
	// Cancelling ends every call, the one blocked in its send included
	// (which closes the connection: the others may see that first).
	cancel()
	for i := range calls {
		select {
		case err := <-results:
			if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrConnClosed) {
				t.Fatalf("call %d after cancel: %v, want context.Canceled or ErrConnClosed", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d calls still blocked 5 s after their ctx was cancelled", calls-i, calls)
		}
	}
}

// holdsTurn reports whether a call has held m's turn (built and queued
// its frame) for all of d: one blocked in its send.
func (m *muxConn) holdsTurn(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if len(m.turn) == 0 {
			return false
		}
		time.Sleep(d / 20)
	}
	return len(m.turn) == 1
}

// TestPoolUserOnDisconnect: an OnDisconnect among PoolConfig.Options
// runs, and does not replace the pool's own, which fails the calls in
// flight when their connection goes (before, it replaced it, and those
// calls waited for good).
func TestPoolUserOnDisconnect(t *testing.T) {
	hooked := make(chan error, 1)
	accepted := make(chan net.Conn, 1)
	addr := rawServer(t, func(_ int, c net.Conn) {
		accepted <- c
		io.Copy(io.Discard, c) // reads, never answers
	})
	p := dialTestPool(t, addr, PoolConfig{Conns: 1, Options: []netpoll.Option{
		netpoll.WithOnDisconnect(func(_ *netpoll.Conn, err error) { hooked <- err }),
	}})
	var srv net.Conn
	select {
	case srv = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("the pool's connection was not accepted")
	}
	time.AfterFunc(100*time.Millisecond, func() { srv.Close() })
	if err := callWithin(t, p, context.Background(), []byte("x"), 5*time.Second); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("a call in flight when the server closed: %v, want ErrConnClosed", err)
	}
	select {
	case <-hooked:
	case <-time.After(5 * time.Second):
		t.Fatal("the user's OnDisconnect did not run")
	}
}
