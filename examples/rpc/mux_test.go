package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func dialTestPool(t *testing.T, addr string, cfg PoolConfig) *Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := DialPool(ctx, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func sleepArg(d time.Duration, body string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(d/time.Millisecond)), body...)
}

// TestMuxOutOfOrder: on one connection a slow call is overtaken by a
// fast one; each caller gets its own answer.
func TestMuxOutOfOrder(t *testing.T) {
	skipUnderInline(t)
	addr := startTestServer(t, DefaultMaxFrame)
	p := dialTestPool(t, addr, PoolConfig{Conns: 1, Timeout: 10 * time.Second})
	slow := make(chan []byte, 1)
	go func() {
		got, err := p.Call(context.Background(), OpSleep, sleepArg(300*time.Millisecond, "slow"))
		if err != nil {
			got = []byte(err.Error())
		}
		slow <- got
	}()
	time.Sleep(50 * time.Millisecond) // let the slow request go first
	for i := range 20 {
		got, err := p.Call(context.Background(), OpUpper, []byte("fast"))
		if err != nil || string(got) != "FAST" {
			t.Fatalf("fast call %d: %q, %v", i, got, err)
		}
	}
	select {
	case got := <-slow:
		t.Fatalf("the slow call (300 ms) was answered before 20 fast ones: %q", got)
	default:
	}
	select {
	case got := <-slow:
		if string(got) != "slow" {
			t.Fatalf("slow call got %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("slow call never answered")
	}
}

// TestMuxManyCalls: 100,000 calls (10,000 with -short) over 16
// connections, 8 in flight on each, echo, upper case and out-of-order
// sleeps mixed; every answer checked byte for byte. Then nothing leaks.
// On a loaded machine under -race the calls stop after a 20 s budget
// (the count made is logged); at least 10,000 must be made.
func TestMuxManyCalls(t *testing.T) {
	n, budget := 100000, 20*time.Second
	if testing.Short() {
		n = 10000
	}
	fds, gs := countFDs(t), goroutines()
	s, addr, err := startServer("127.0.0.1:0", DefaultMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	start := time.Now()
	err = runLoad(&out, addr, loadConfig{clients: 16, inflight: 8, n: n, size: 64, max: DefaultMaxFrame, timeout: 20 * time.Second, budget: budget})
	t.Logf("%v: %s", time.Since(start), strings.TrimSpace(out.String()))
	shutdown(s)
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	if _, err := fmt.Sscanf(out.String(), "calls %d", &calls); err != nil || !strings.Contains(out.String(), "errors 0\n") {
		t.Fatalf("summary %q", out.String())
	}
	if calls < min(n, 10000) {
		t.Fatalf("only %d calls made in %v", calls, budget)
	}
	settleFor(5*time.Second, func() bool { return countFDs(t) <= fds })
	if got := countFDs(t); got > fds {
		t.Errorf("fds: %d after, %d before", got, fds)
	}
	settleFor(5*time.Second, func() bool { return goroutines() <= gs })
	if got := goroutines(); got > gs {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d after, %d before\n%s", got, gs, buf[:runtime.Stack(buf, true)])
	}
}

// goroutines counts the goroutines other than the shared handler
// pool's (gopool.Default's workers idle for a while before they exit).
func goroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "panjf2000/ants") {
			n++
		}
	}
	return n
}

func TestMuxCallTimeout(t *testing.T) {
	addr := startTestServer(t, DefaultMaxFrame)
	p := dialTestPool(t, addr, PoolConfig{Conns: 1, Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := p.Call(context.Background(), OpSleep, sleepArg(400*time.Millisecond, "late"))
	if !errors.Is(err, ErrCallTimeout) {
		t.Fatalf("Call = %v, want ErrCallTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := p.Call(ctx, OpSleep, sleepArg(300*time.Millisecond, "late")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call with a cancelled ctx = %v", err)
	}
	// The late answers arrive and are dropped: the connection stays.
	time.Sleep(600 * time.Millisecond)
	got, err := p.Call(context.Background(), OpEcho, []byte("after"))
	if err != nil || string(got) != "after" {
		t.Fatalf("call after the late answers: %q, %v", got, err)
	}
}

// rawServer accepts connections on a plain net listener and runs serve
// on each (with its index) until the test ends.
func rawServer(t *testing.T, serve func(i int, c net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				serve(i, c)
			})
		}
	})
	return l.Addr().String()
}

// readRequest reads one tagged request and returns its id and argument.
func readRequest(c net.Conn) (uint32, []byte, error) {
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		return 0, nil, err
	}
	if len(body) < 2+IDLen || body[0] != OpTagged {
		return 0, nil, errors.New("not a tagged request")
	}
	return binary.BigEndian.Uint32(body[1:]), body[2+IDLen:], nil
}

func response(n uint32, id uint32, payload string) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	b = binary.BigEndian.AppendUint32(b, id)
	return append(b, payload...)
}

// TestMuxServerClosesMidCall: a server that takes 50 requests and
// closes without answering; every waiting call fails, none hangs.
func TestMuxServerClosesMidCall(t *testing.T) {
	const calls = 50
	addr := rawServer(t, func(_ int, c net.Conn) {
		for range calls {
			if _, _, err := readRequest(c); err != nil {
				return
			}
		}
	})
	p := dialTestPool(t, addr, PoolConfig{Conns: 1})
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := p.Call(context.Background(), OpEcho, []byte("x"))
			errs <- err
		}()
	}
	for i := range calls {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrConnClosed) {
				t.Fatalf("call %d: %v, want ErrConnClosed", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d calls still waiting after the server closed", calls-i)
		}
	}
	if _, err := p.Call(context.Background(), OpEcho, []byte("x")); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call on a pool with no connection left: %v", err)
	}
}

// TestMuxBadFrames: a server whose first connection answers with a bad
// frame and whose second answers properly. The calls in flight on the
// first fail with the right error; the second is unaffected.
func TestMuxBadFrames(t *testing.T) {
	const max = 1 << 10
	tests := []struct {
		name string
		bad  func(id uint32) []byte
		want error
	}{
		{"over limit", func(id uint32) []byte { return response(IDLen+max+1, id, "") }, ErrFrameTooLarge},
		{"unknown id", func(id uint32) []byte { return response(IDLen+2, id+1000, "ok") }, ErrUnknownID},
		{"no room for an id", func(id uint32) []byte { return []byte{0, 0, 0, 2, 0, 0} }, ErrTruncated},
		{"truncated at EOF", func(id uint32) []byte { return response(IDLen+100, id, "short") }, ErrTruncated},
		{"truncated header at EOF", func(id uint32) []byte { return []byte{0, 0} }, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, func(i int, c net.Conn) {
				for {
					id, arg, err := readRequest(c)
					if err != nil {
						return
					}
					if i == 0 {
						c.Write(tt.bad(id))
						// A truncated frame ends at EOF: shut the
						// write side, then drain what the client
						// sent, so that closing sends no reset.
						c.(*net.TCPConn).CloseWrite()
						io.Copy(io.Discard, c)
						return
					}
					c.Write(response(uint32(IDLen+len(arg)), id, string(arg)))
				}
			})
			p := dialTestPool(t, addr, PoolConfig{Conns: 2, Max: max, Timeout: 10 * time.Second})
			bad, good := p.conns[0], p.conns[1]
			errs := make(chan error, 4)
			for range 4 {
				go func() {
					_, err := bad.call(context.Background(), OpEcho, []byte("x"), 10*time.Second)
					errs <- err
				}()
			}
			for range 4 {
				select {
				case err := <-errs:
					if !errors.Is(err, tt.want) {
						t.Fatalf("call on the bad connection: %v, want %v", err, tt.want)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("call on the bad connection still waiting")
				}
			}
			if bad.open() {
				t.Fatal("bad connection still open")
			}
			for i := range 10 {
				got, err := p.Call(context.Background(), OpEcho, []byte("fine"))
				if err != nil || string(got) != "fine" {
					t.Fatalf("call %d after the bad frame: %q, %v", i, got, err)
				}
			}
			if !good.open() {
				t.Fatal("good connection closed")
			}
		})
	}
}

// TestPoolShutdownInFlight: Shutdown of the pool's group with calls
// waiting for slow answers fails each of them and returns.
func TestPoolShutdownInFlight(t *testing.T) {
	addr := startTestServer(t, DefaultMaxFrame)
	p := dialTestPool(t, addr, PoolConfig{Conns: 4})
	const calls = 40
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := p.Call(context.Background(), OpSleep, sleepArg(5*time.Second, "slow"))
			errs <- err
		}()
	}
	settleFor(5*time.Second, func() bool {
		n := 0
		for _, m := range p.conns {
			m.mu.Lock()
			n += len(m.pending)
			m.mu.Unlock()
		}
		return n == calls
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	for i := range calls {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrConnClosed) {
				t.Fatalf("call %d: %v, want ErrConnClosed", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d calls still waiting after Shutdown", calls-i)
		}
	}
}

func TestDialPoolRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	gs := goroutines()
	if _, err := DialPool(context.Background(), "tcp", addr, PoolConfig{Conns: 2}); err == nil {
		t.Fatal("DialPool to a closed port succeeded")
	}
	// The pool's group is closed again: its pollers are gone.
	settleFor(5*time.Second, func() bool { return goroutines() <= gs })
	if got := goroutines(); got > gs {
		t.Errorf("goroutines: %d after a failed DialPool, %d before", got, gs)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settleFor waits (bounded) until f reports true, and reports whether
// it did.
func settleFor(d time.Duration, f func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if f() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f()
}

// heldServer answers tagged echo requests, except that it holds back
// those whose argument is "hold". A held request is answered late, with
// the payload "late": all of them before a request whose argument is
// "release", and each one just before a later request that carries the
// same id (so that a client that reused the id would take the late
// answer for the new call's).
func heldServer(_ int, c net.Conn) {
	held := make(map[uint32]bool)
	for {
		id, arg, err := readRequest(c)
		if err != nil {
			return
		}
		var out []byte
		switch {
		case string(arg) == "hold":
			held[id] = true
			continue
		case string(arg) == "release":
			for h := range held {
				out = append(out, response(IDLen+4, h, "late")...)
			}
			clear(held)
		case held[id]:
			out = append(out, response(IDLen+4, id, "late")...)
			delete(held, id)
		}
		out = append(out, response(uint32(IDLen+len(arg)), id, string(arg))...)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// failed reports whether m's connection has closed and failed its calls.
func failed(m *muxConn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending == nil
}

func pendingLen(m *muxConn) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// callEach makes n concurrent calls on p, each with its own argument
// (prefix and index), and fails the test unless each gets its own
// argument back.
func callEach(t *testing.T, p *Pool, n int, prefix string) {
	t.Helper()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			arg := fmt.Sprintf("%s-%d", prefix, i)
			got, err := p.Call(context.Background(), OpEcho, []byte(arg))
			if err == nil && string(got) != arg {
				err = fmt.Errorf("got %q, want %q", got, arg)
			}
			errs <- err
		}()
	}
	for i := range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("call %d of %d: %v", i, n, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d calls still waiting", n-i)
		}
	}
}

// TestMuxAbandonedCallsForgotten: calls that end (by the pool's timeout
// or their context) while the server holds their requests leave nothing
// in their connection's pending table. The late answers, when they come,
// are dropped; the calls made after get their own answers.
func TestMuxAbandonedCallsForgotten(t *testing.T) {
	const rounds, perRound = 4, 50
	addr := rawServer(t, heldServer)
	p := dialTestPool(t, addr, PoolConfig{Conns: 1, Timeout: 10 * time.Second})
	m := p.conns[0]
	for r := range rounds {
		errs := make(chan error, perRound)
		for range perRound {
			go func() {
				if r%2 == 0 {
					// The pool's timeout, as the call sees it.
					_, err := m.call(context.Background(), OpEcho, []byte("hold"), 30*time.Millisecond)
					errs <- err
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
				defer cancel()
				_, err := p.Call(ctx, OpEcho, []byte("hold"))
				errs <- err
			}()
		}
		for i := range perRound {
			select {
			case err := <-errs:
				if !errors.Is(err, ErrCallTimeout) && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("round %d, held call %d: %v, want a timeout", r, i, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: %d held calls still waiting", r, perRound-i)
			}
		}
	}
	if n := pendingLen(m); n != 0 {
		t.Fatalf("%d calls pending after %d calls timed out unanswered, want 0", n, rounds*perRound)
	}
	// "release" makes the server send every late answer first.
	got, err := p.Call(context.Background(), OpEcho, []byte("release"))
	if err != nil || string(got) != "release" {
		t.Fatalf("call after the late answers: %q, %v", got, err)
	}
	callEach(t, p, 50, "after")
	if n := pendingLen(m); n != 0 || !m.open() {
		t.Fatalf("after the late answers: %d pending, open %v; want 0, true", n, m.open())
	}
}

// TestMuxIDsNotReused: a connection whose request ids run out takes no
// more calls rather than issue an id again, so that the late answer to
// an abandoned call cannot reach a new call. The server answers a held
// request just before any later request with its id. The pool goes on
// on its other connection, and the spent one is closed once idle.
func TestMuxIDsNotReused(t *testing.T) {
	addr := rawServer(t, heldServer)
	p := dialTestPool(t, addr, PoolConfig{Conns: 2, Timeout: 10 * time.Second})
	m := p.conns[0]
	if _, err := m.call(context.Background(), OpEcho, []byte("hold"), 30*time.Millisecond); !errors.Is(err, ErrCallTimeout) {
		t.Fatalf("held call: %v, want ErrCallTimeout", err)
	}
	// As if about 2^32 calls had been made on it since.
	m.mu.Lock()
	m.nextID = math.MaxUint32 - 1
	m.mu.Unlock()
	for i := range 8 {
		arg := fmt.Sprintf("call-%d", i)
		got, err := p.Call(context.Background(), OpEcho, []byte(arg))
		if err != nil || string(got) != arg {
			t.Fatalf("call %d: %q, %v; want %q", i, got, err, arg)
		}
	}
	if !settleFor(5*time.Second, func() bool { return failed(m) }) {
		t.Fatal("spent connection still open once idle")
	}
	if _, err := m.call(context.Background(), OpEcho, []byte("x"), time.Second); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call on the spent connection: %v, want ErrConnClosed", err)
	}
	callEach(t, p, 20, "more")

	// The other connection's last id goes to a call that is abandoned:
	// it is closed too, and the pool has no connection left.
	last := p.conns[1]
	last.mu.Lock()
	last.nextID = math.MaxUint32
	last.mu.Unlock()
	if _, err := last.call(context.Background(), OpEcho, []byte("hold"), 30*time.Millisecond); !errors.Is(err, ErrCallTimeout) {
		t.Fatalf("held call with the last id: %v, want ErrCallTimeout", err)
	}
	if !settleFor(5*time.Second, func() bool { return failed(last) }) {
		t.Fatal("connection spent by an abandoned call still open")
	}
	if _, err := p.Call(context.Background(), OpEcho, []byte("x")); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call on a pool whose connections are spent: %v, want ErrConnClosed", err)
	}
}
