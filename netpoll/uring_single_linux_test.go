package netpoll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/internal/uring"
)

// singleOpts are the options under which a uring poller's duty never
// moves and it waits in the kernel: its ring gets one issuer.
func singleOpts(d Dispatch) []Option {
	return []Option{WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithDispatch(d), WithWait(WaitBlock), WithPollers(2)}
}

// checkSingle fails unless every poller of s has a single-issuer ring.
func checkSingle(t *testing.T, s *Server) {
	t.Helper()
	for _, p := range s.pollers {
		u := p.ep.ur
		if !u.single || u.r.Flags()&uring.SetupSingleIssuer == 0 {
			t.Fatalf("poller %d: single %v, ring flags %#x: not a single-issuer ring", p.id, u.single, u.r.Flags())
		}
		t.Logf("poller %d: ring flags %#x (DEFER_TASKRUN %v)", p.id, u.r.Flags(), u.r.Flags()&uring.SetupDeferTaskrun != 0)
	}
}

// TestUringSingleIssuerEcho: under DispatchInline and DispatchPool with
// WaitBlock each poller's ring has one issuer, its pinned leader, and
// DEFER_TASKRUN; echoes of small messages and of 256 KiB come back
// whole and in order, and Close leaves no descriptor, buffer or goroutine behind (the
// leader closes its own ring).
func TestUringSingleIssuerEcho(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "")
	t.Setenv(uringSingleEnv, "")
	t.Setenv(uringSQPollEnv, "") // an SQPOLL ring is not single-issuer
	for _, d := range []Dispatch{DispatchInline, DispatchPool} {
		t.Run(d.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, addr := startServer(t, echoHandler, singleOpts(d)...)
			checkSingle(t, s)
			echoClients(t, addr, 8, 200)
			st := s.Stats()
			t.Logf("%d handler runs, %d writev, %d submissions, %d io_uring_enter", st.HandlerRuns, st.WriteCalls, st.Submissions, st.Enters)

			bigEcho(t, addr)
			// Closed from a thread that cannot be an issuer's: a ring
			// left to this goroutine would refuse the unregistration.
			runtime.LockOSThread()
			s.Close()
			runtime.UnlockOSThread()
			for _, p := range s.pollers {
				u := p.ep.ur
				u.mu.Lock()
				closed, err := u.closed, u.closeErr
				u.mu.Unlock()
				if !closed || err != nil {
					// Only the issuer may unregister the buffer group.
					t.Errorf("poller %d: ring closed %v, error %v", p.id, closed, err)
				}
			}
		})
	}
}

// TestUringSingleIssuerForwarded: requests made on other goroutines than
// the issuer (a Dialer registering the connections it dials, Close
// deregistering them, handlers closing on the pool) are queued and
// submitted by the leader, which they wake; none is lost: every dialed
// connection is served, every registration goes, and every peer sees
// its socket closed.
func TestUringSingleIssuerForwarded(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "")
	t.Setenv(uringSingleEnv, "")
	t.Setenv(uringSQPollEnv, "") // an SQPOLL ring is not single-issuer
	for _, d := range []Dispatch{DispatchInline, DispatchPool} {
		t.Run(d.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			addr, eofs := startEchoPeer(t)
			var got atomic.Int64
			closeOnPool := d == DispatchPool
			h := func(c *Conn) error {
				r := c.Reader()
				b, err := r.Next(r.Len())
				if err != nil {
					return err
				}
				got.Add(int64(len(b)))
				if err := r.Release(); err != nil {
					return err
				}
				if closeOnPool && c.Context() == 1 {
					return c.Close() // a del from a pool goroutine
				}
				return nil
			}
			s, err := NewServer(h, singleOpts(d)...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkSingle(t, s)
			const n = 64
			conns := make([]*Conn, 0, n)
			for i := range n {
				dl := Dialer{Server: s, Timeout: 5 * time.Second, Context: i % 2}
				c, err := dl.DialContext(context.Background(), "tcp", addr)
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				conns = append(conns, c)
			}
			msg := bytes.Repeat([]byte("x"), 64)
			for i, c := range conns {
				if _, err := c.Write(msg); err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
			}
			if !testutil.WaitFor(10*time.Second, func() bool { return got.Load() == n*int64(len(msg)) }) {
				t.Fatalf("received %d of %d bytes back", got.Load(), n*len(msg))
			}
			for i, c := range conns {
				if !closeOnPool || i%2 == 0 {
					c.Close() // a del from this goroutine
				}
			}
			if !testutil.WaitFor(10*time.Second, func() bool { return s.Stats().LiveConns == 0 }) {
				t.Fatalf("after closing: %+v", s.Stats().PollerStats)
			}
			// The sockets are closed, not only their descriptors: a
			// request left in the ring would hold one open.
			if !testutil.WaitFor(10*time.Second, func() bool { return eofs.Load() == n }) {
				t.Fatalf("%d of %d peers saw EOF after the close", eofs.Load(), n)
			}
			for _, p := range s.pollers {
				u := p.ep.ur
				u.mu.Lock()
				live := 0
				for _, reg := range u.regs {
					if reg != nil {
						live++
					}
				}
				u.mu.Unlock()
				if live > 0 {
					t.Errorf("poller %d: %d registrations left", p.id, live)
				}
			}
		})
	}
}

// startEchoPeer runs an echo server on Go's net for connections a
// Dialer makes, and counts the ones that ended with EOF from our side.
func startEchoPeer(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	eofs := new(atomic.Int64)
	// The acceptor is counted, so that it may add its peers.
	var peers sync.WaitGroup
	peers.Add(1)
	t.Cleanup(func() {
		ln.Close()
		peers.Wait()
	})
	go func() {
		defer peers.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peers.Add(1)
			go func() {
				defer peers.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.Copy(c, c); err == nil {
					eofs.Add(1)
				}
			}()
		}
	}()
	return ln.Addr().String(), eofs
}

// TestUringSingleIssuerQueueFull: while the issuer is stuck (an inline
// handler that blocks, which the contract forbids, is the way to stall
// it), a goroutine that closes connections fills the submission queue
// with cancellations: those that find it full wait in overflow, and the
// issuer moves them into the queue once it runs again, so every socket
// is closed; afterwards the poller serves new connections.
func TestUringSingleIssuerQueueFull(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "")
	t.Setenv(uringSingleEnv, "")
	t.Setenv(uringSQPollEnv, "") // an SQPOLL ring is not single-issuer
	testutil.CheckLeaks(t)
	addr, eofs := startEchoPeer(t)
	stall, stalled := make(chan struct{}), make(chan struct{}, 1)
	var got atomic.Int64
	h := func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		if string(b) == "stall" {
			stalled <- struct{}{}
			<-stall
		}
		got.Add(int64(len(b)))
		return r.Release()
	}
	s, err := NewServer(h, append(singleOpts(DispatchInline), WithPollers(1))...)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dl := Dialer{Server: s, Timeout: 5 * time.Second}
	const n = 300 // two requests each (poll and receive): more than the queue's 512
	conns := make([]*Conn, 0, n)
	for i := range n {
		c, err := dl.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if !testutil.WaitFor(10*time.Second, func() bool { return got.Load() == n }) {
		t.Fatalf("%d of %d echoes", got.Load(), n)
	}
	staller, err := dl.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	staller.Write([]byte("stall"))
	select {
	case <-stalled:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not stall")
	}
	for _, c := range conns {
		c.Close()
	}
	u := s.pollers[0].ep.ur
	u.mu.Lock()
	waiting := len(u.overflow)
	u.mu.Unlock()
	if waiting == 0 {
		close(stall)
		t.Fatal("no request waited behind the full queue: the test did not fill it")
	}
	t.Logf("%d requests waited behind the full queue", waiting)
	close(stall)
	staller.Close()
	if !testutil.WaitFor(10*time.Second, func() bool { return eofs.Load() == n+1 }) {
		t.Fatalf("%d of %d peers saw EOF", eofs.Load(), n+1)
	}
	c, err := dl.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial after the stall: %v", err)
	}
	c.Write([]byte("after"))
	if !testutil.WaitFor(10*time.Second, func() bool { return got.Load() == n+5+5 }) {
		t.Fatalf("after the stall: %d bytes handled, want %d", got.Load(), n+10)
	}
	c.Close()
}

// TestUringSingleIssuerOff: uringSingleEnv=0, and any other dispatch or
// wait, keep the ring open to every thread.
func TestUringSingleIssuerOff(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "")
	cases := []struct {
		env  string
		opts []Option
	}{
		{"0", singleOpts(DispatchInline)},
		{"", []Option{WithBackend(BackendUring), WithDispatch(DispatchHandoff), WithWait(WaitBlock)}},
		{"", []Option{WithBackend(BackendUring), WithDispatch(DispatchInline), WithWait(WaitRuntime)}},
	}
	for _, tc := range cases {
		t.Setenv(uringSingleEnv, tc.env)
		s, err := NewServer(echoHandler, tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s.pollers {
			if u := p.ep.ur; u.single || u.r.Flags()&uring.SetupSingleIssuer != 0 {
				t.Errorf("%s=%q, %v: a single-issuer ring", uringSingleEnv, tc.env, s.Config().String())
			}
		}
		s.Close()
	}
}

// TestUringInlineSendBound: on a single-issuer ring, against a peer
// that stops reading, an inline handler's Flush returns ErrWouldBlock
// once its output passes MaxOutput, the queue holds no more than the
// bound plus one handler's output, and when the peer reads again every
// byte arrives, in order. (Sends through the ring under DispatchInline,
// tried and dropped, held up to twice the bound: docs/uring.md.)
func TestUringInlineSendBound(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "")
	testutil.CheckLeaks(t)
	const bound, chunk, runs = 64 << 10, 32 << 10, 300
	var handled, flushes, wouldBlock atomic.Int64
	var maxQueued atomic.Int64
	var seq atomic.Uint32
	h := func(c *Conn) error {
		r, w := c.Reader(), c.Writer()
		if err := r.Skip(r.Len()); err != nil {
			return err
		}
		if err := r.Release(); err != nil {
			return err
		}
		defer handled.Add(1)
		if wouldBlock.Load() > 0 {
			return nil // told to stop writing
		}
		b := make([]byte, chunk)
		for i := range b {
			b[i] = byte(seq.Add(1))
		}
		if _, err := w.WriteBinary(b); err != nil {
			return err
		}
		err := w.Flush()
		flushes.Add(1)
		if q := int64(c.out.Len()); q > maxQueued.Load() {
			maxQueued.Store(q)
		}
		if errors.Is(err, ErrWouldBlock) {
			wouldBlock.Add(1)
			return nil // the output stays queued and goes out later
		}
		return err
	}
	_, addr := startServer(t, h, append(singleOpts(DispatchInline), WithPollers(1), WithMaxOutput(bound))...)
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := range runs {
		if _, err := nc.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if !testutil.WaitFor(5*time.Second, func() bool { return handled.Load() > int64(i) }) {
			t.Fatalf("trigger %d: no handler run", i)
		}
	}
	if wouldBlock.Load() == 0 {
		t.Fatalf("%d flushes of %d B against a peer that reads nothing, none returned ErrWouldBlock", flushes.Load(), chunk)
	}
	if m := maxQueued.Load(); m > bound+chunk {
		t.Fatalf("%d B queued at most, want at most %d", m, bound+chunk)
	}
	want := int(flushes.Load()) * chunk
	got := make([]byte, want)
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatalf("reading back %d B: %v", want, err)
	}
	for i, b := range got {
		if b != byte(i+1) {
			t.Fatalf("byte %d is %d, want %d", i, b, byte(i+1))
		}
	}
	t.Logf("%d flushes, %d ErrWouldBlock, at most %d B queued", flushes.Load(), wouldBlock.Load(), maxQueued.Load())
}

// TestUringInlineSendStream: on a single-issuer ring, an inline echo
// handler streams 16 MiB back to a peer that reads as fast as it
// writes, every byte in order. (It failed with sends through the ring
// under DispatchInline, which were dropped: docs/uring.md.) Under load
// the peer's reader can fall behind by more than MaxOutput, and then a
// write or Flush says ErrWouldBlock: the handler is the careful kind
// DispatchInline asks for (it takes its input only once the echo is
// written, and returns nil on ErrWouldBlock), and the poller runs it
// again once the output has drained, so the stream goes on.
func TestUringInlineSendStream(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "")
	testutil.CheckLeaks(t)
	var wouldBlock atomic.Int32
	h := func(c *Conn) error {
		r, w := c.Reader(), c.Writer()
		n := r.Len()
		if n == 0 {
			return nil
		}
		b, err := r.Peek(n)
		if err != nil {
			return err
		}
		if _, err := w.WriteBinary(b); err != nil {
			if errors.Is(err, ErrWouldBlock) {
				wouldBlock.Add(1)
				return nil // the input stays: the handler runs again
			}
			return err
		}
		if err := r.Skip(n); err != nil {
			return err
		}
		if err := r.Release(); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			if errors.Is(err, ErrWouldBlock) {
				wouldBlock.Add(1)
				return nil // the echo is written: the poller sends it
			}
			return err
		}
		return nil
	}
	// A reader that starts late makes the echo wait for room: the
	// ErrWouldBlock path, on every machine.
	for _, late := range []time.Duration{0, 300 * time.Millisecond} {
		wouldBlock.Store(0)
		if err := inlineStream(t, h, late); err != nil {
			t.Fatalf("reader %v late: %v (%d ErrWouldBlock)", late, err, wouldBlock.Load())
		}
		t.Logf("reader %v late: %d ErrWouldBlock", late, wouldBlock.Load())
		if late > 0 && wouldBlock.Load() == 0 {
			t.Errorf("reader %v late: no ErrWouldBlock; the case did not wait for room", late)
		}
	}
}

// inlineStream serves h inline on a single-issuer ring and streams
// 16 MiB through it, reading the echo back as fast as it comes from
// late on.
func inlineStream(t *testing.T, h Handler, late time.Duration) error {
	s, addr := startServer(t, h, append(singleOpts(DispatchInline), WithPollers(1))...)
	defer s.Close()
	c := dialTCP(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	const total = 16 << 20
	src := testutil.RandomBytes(7, total)
	errc := make(chan error, 1)
	go func() {
		for off := 0; off < total; off += 64 << 10 {
			if _, err := c.Write(src[off : off+64<<10]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	got := make([]byte, total)
	time.Sleep(late)
	if _, err := io.ReadFull(c, got); err != nil {
		c.Close()
		<-errc
		return fmt.Errorf("reading back: %w", err)
	}
	if err := <-errc; err != nil {
		return err
	}
	if !bytes.Equal(got, src) {
		t.Fatal("the stream came back altered")
	}
	return nil
}
