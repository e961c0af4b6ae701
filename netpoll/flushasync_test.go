package netpoll

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestFlushAsyncOneWrite: FlushAsync calls made while the poller is busy
// are sent by it in one writev once it is free. The poller is held by
// an inline handler blocked on another connection, so "busy" is certain,
// not a matter of timing.
func TestFlushAsyncOneWrite(t *testing.T) {
	skipStd(t, "FlushAsync is Flush without a poller")
	entered, release := make(chan struct{}), make(chan struct{})
	conns := make(chan *Conn, 2)
	s, addr := startServer(t, func(c *Conn) error {
		r := c.Reader()
		if err := r.Skip(r.Len()); err != nil {
			return err
		}
		close(entered)
		<-release // holds the poller: DispatchInline
		return nil
	}, WithPollers(1), WithDispatch(DispatchInline), WithOnConnect(func(c *Conn) { conns <- c }))
	blocker := dialTCP(t, addr)
	bc := recvConn(t, conns)
	peer := dialTCP(t, addr)
	pc := recvConn(t, conns)
	if bc.RemoteAddr().String() != blocker.LocalAddr().String() {
		bc, pc = pc, bc
	}
	blocker.Write([]byte("B"))
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the blocking handler never ran")
	}
	before := s.Stats().WriteCalls
	const n = 100
	var want bytes.Buffer
	w := pc.Writer()
	for i := range n {
		msg := []byte(strings.Repeat(string(rune('a'+i%26)), 64))
		binary.BigEndian.PutUint32(msg, uint32(i))
		want.Write(msg)
		if _, err := w.WriteBinary(msg); err != nil {
			close(release)
			t.Fatal(err)
		}
		if err := w.FlushAsync(); err != nil {
			close(release)
			t.Fatalf("FlushAsync %d: %v", i, err)
		}
	}
	if got := s.Stats().WriteCalls - before; got != 0 {
		close(release)
		t.Fatalf("%d writes while the poller was held; FlushAsync must leave them to it", got)
	}
	close(release)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("the bytes sent differ from those written")
	}
	// The poller counts its writev after the call returns, which may be
	// after the peer has read the bytes.
	writes := func() uint64 { return s.Stats().WriteCalls - before }
	testutil.WaitFor(5*time.Second, func() bool { return writes() >= 1 })
	if got := writes(); got != 1 {
		t.Fatalf("%d FlushAsync calls took %d writes, want 1", n, got)
	}
}

// TestFlushAsyncConcurrent: 16 goroutines write framed messages on one
// dialed connection with FlushAsync; every frame arrives whole, once,
// and in its writer's order.
func TestFlushAsyncConcurrent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const writers, frames, size = 16, 500, 48
	type result struct {
		next [writers]int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var res result
		defer func() { done <- res }()
		pc, err := ln.Accept()
		if err != nil {
			res.err = err
			return
		}
		defer pc.Close()
		pc.SetReadDeadline(time.Now().Add(30 * time.Second))
		frame := make([]byte, size)
		for range writers * frames {
			if _, err := io.ReadFull(pc, frame); err != nil {
				res.err = err
				return
			}
			id, seq := int(frame[0]), int(binary.BigEndian.Uint32(frame[1:]))
			if id >= writers || seq != res.next[id] || !bytes.Equal(frame[5:], bytes.Repeat([]byte{byte(id)}, size-5)) {
				res.err = errors.New("frame out of order or torn")
				return
			}
			res.next[id]++
		}
	}()
	c, err := Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for id := range writers {
		wg.Go(func() {
			frame := bytes.Repeat([]byte{byte(id)}, size)
			w := c.Writer()
			for seq := range frames {
				binary.BigEndian.PutUint32(frame[1:], uint32(seq))
				frame[0] = byte(id)
				if _, err := w.WriteBinary(frame); err != nil {
					errs <- err
					return
				}
				if err := w.FlushAsync(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	for id, n := range res.next {
		if n != frames {
			t.Fatalf("writer %d: %d frames arrived, want %d", id, n, frames)
		}
	}
}

// TestFlushAsyncBounded: toward a peer that never reads, FlushAsync
// queues no more than MaxOutput: past it, it waits as Flush does and
// fails at the write deadline.
func TestFlushAsyncBounded(t *testing.T) {
	const maxOut = 256 << 10
	_, addr, conns := startAccept(t, WithMaxOutput(maxOut))
	dialTCP(t, addr) // never reads
	c := recvConn(t, conns)
	c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	chunk := make([]byte, 16<<10)
	w := c.Writer()
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		if _, err = w.WriteBinary(chunk); err == nil {
			err = w.FlushAsync()
		}
		if q := c.out.Len(); q > maxOut+len(chunk) {
			t.Fatalf("%d bytes queued, bound %d + one %d-byte write", q, maxOut, len(chunk))
		}
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("FlushAsync toward a peer that never reads: %v, want a timeout", err)
	}
}

// TestFlushAsyncThenClose: a Close right after FlushAsync sends the
// queued bytes before the FIN; FlushAsync after Close fails.
func TestFlushAsyncThenClose(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig))
			peer := dialTCP(t, addr)
			c := recvConn(t, conns)
			want := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB
			w := c.Writer()
			if _, err := w.WriteBinary(want); err != nil {
				t.Fatal(err)
			}
			if err := w.FlushAsync(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(peer)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes before EOF, want the %d written", len(got), len(want))
			}
			if _, err := w.WriteBinary([]byte("x")); err == nil {
				t.Fatal("WriteBinary after Close succeeded")
			}
			if err := w.FlushAsync(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("FlushAsync after Close: %v, want net.ErrClosed", err)
			}
		})
	}
}

// TestFlushAsyncShutdownLeaks: connections with FlushAsync output queued
// when their group shuts down leave no fd and no goroutine behind.
func TestFlushAsyncShutdownLeaks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			pc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, pc); pc.Close() }()
		}
	}()
	fds, gs := testutil.FDs(t), len(testutil.LiveGoroutines())
	g, err := NewServer(func(c *Conn) error { return c.Reader().Skip(c.Reader().Len()) })
	if err != nil {
		t.Fatal(err)
	}
	d := Dialer{Server: g}
	for i := range 50 {
		c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		for range 20 {
			c.Writer().WriteBinary(make([]byte, 100))
			if err := c.Writer().FlushAsync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return testutil.FDs(t) <= fds }) {
		t.Errorf("fds: %d after, %d before", testutil.FDs(t), fds)
	}
	// Idle ants workers are not counted: they stay for reuse.
	if !testutil.WaitFor(5*time.Second, func() bool { return len(testutil.LiveGoroutines()) <= gs }) {
		live := testutil.LiveGoroutines()
		t.Errorf("goroutines: %d after, %d before\n%s", len(live), gs, strings.Join(live, "\n\n"))
	}
}

// TestFlushAsyncQueuedAtClose: output queued by FlushAsync when the
// server closes is not left holding its connection: the poller, held
// by an inline handler while the flushes are queued and the server
// closes, lets every connection go once it is free, and no fd stays.
func TestFlushAsyncQueuedAtClose(t *testing.T) {
	skipStd(t, "FlushAsync is Flush without a poller")
	fds := testutil.FDs(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	conns := make(chan *Conn, 64)
	s, err := NewServer(func(c *Conn) error {
		r := c.Reader()
		if err := r.Skip(r.Len()); err != nil {
			return err
		}
		once.Do(func() { close(entered); <-release })
		return nil
	}, WithPollers(1), WithDispatch(DispatchInline), WithOnConnect(func(c *Conn) { conns <- c }))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	var peers []net.Conn
	defer func() {
		for _, p := range peers {
			p.Close()
		}
	}()
	var srvConns []*Conn
	for range 20 {
		p, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
		srvConns = append(srvConns, recvConn(t, conns))
	}
	peers[0].Write([]byte("B"))
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the blocking handler never ran")
	}
	for _, c := range srvConns {
		c.Writer().WriteBinary([]byte("queued"))
		if err := c.Writer().FlushAsync(); err != nil {
			close(release)
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(50 * time.Millisecond) // let Close reach the held poller
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	<-served
	for _, p := range peers {
		p.Close()
	}
	peers = nil
	if !testutil.WaitFor(5*time.Second, func() bool { return testutil.FDs(t) <= fds }) {
		t.Errorf("fds: %d after, %d before", testutil.FDs(t), fds)
	}
}
