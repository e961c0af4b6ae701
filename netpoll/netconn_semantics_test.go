package netpoll

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// goTCPPair returns a server-side and a client-side *net.TCPConn of
// Go's own net, for comparing behaviour.
func goTCPPair(t *testing.T) (srv, cl *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl = dialTCP(t, ln.Addr().String())
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*net.TCPConn), cl
}

// A zero-length Read returns 0, nil in Go's net even when the read
// deadline has passed (internal/poll's FD.Read checks len(p) before the
// deadline).
func TestZeroLengthReadPastDeadline(t *testing.T) {
	check := func(name string, c net.Conn) {
		c.SetReadDeadline(time.Unix(1, 0))
		n, err := c.Read(nil)
		if n != 0 || err != nil {
			t.Errorf("%s: Read(nil) with a past deadline = %d, %v; Go's net gives 0, <nil>", name, n, err)
		}
	}
	gs, _ := goTCPPair(t)
	check("go", gs)
	c, _ := acceptPair(t)
	check("upoll", c)
}

// After a Write that timed out, CloseWrite must still shut the writing
// side down (Go's CloseWrite ignores the write deadline): the peer sees
// io.EOF after the bytes that Write reported.
func TestCloseWriteAfterWriteTimeout(t *testing.T) {
	run := func(name string, c interface {
		net.Conn
		CloseWrite() error
	}, cl *net.TCPConn) {
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		big := make([]byte, 32<<20)
		n, err := c.Write(big) // the client does not read yet
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: Write = %d, %v; want a timeout", name, n, err)
		}
		cerr := c.CloseWrite()
		if cerr != nil {
			t.Errorf("%s: CloseWrite after a timed-out Write = %v; Go's net gives <nil>", name, cerr)
		}
		cl.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, rerr := io.Copy(io.Discard, cl)
		if rerr != nil || got != int64(n) {
			t.Errorf("%s: peer read %d bytes, err %v; want %d bytes then io.EOF", name, got, rerr, n)
		}
	}
	gs, gcl := goTCPPair(t)
	run("go", gs, gcl)
	c, cl := acceptPair(t)
	run("upoll", c, cl)
}

// Close from another goroutine while a Write is blocked on a peer that
// does not read: Write returns net.ErrClosed with n, and the peer must
// then receive exactly n bytes (Go's net never sends what Write did not
// report).
func TestCloseDuringBlockedWriteCount(t *testing.T) {
	run := func(name string, c net.Conn, cl *net.TCPConn) {
		type res struct {
			n   int
			err error
		}
		done := make(chan res, 1)
		go func() {
			n, err := c.Write(make([]byte, 32<<20))
			done <- res{n, err}
		}()
		time.Sleep(200 * time.Millisecond) // kernel buffers fill, Write blocks
		c.Close()
		var r res
		select {
		case r = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Close did not wake the blocked Write", name)
		}
		if !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("%s: Write = %d, %v; want net.ErrClosed", name, r.n, r.err)
		}
		cl.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, _ := io.Copy(io.Discard, cl)
		if got != int64(r.n) {
			t.Errorf("%s: Write reported %d bytes written before Close, the peer received %d (%+d)", name, r.n, got, got-int64(r.n))
		}
	}
	gs, gcl := goTCPPair(t)
	run("go", gs, gcl)
	c, cl := acceptPair(t)
	run("upoll", c, cl)
}

// Concurrent Writes must not interleave: each Write's bytes arrive
// contiguously.
func TestConcurrentWritesNoInterleave(t *testing.T) {
	const writers, size = 4, 1 << 20
	run := func(name string, c net.Conn, cl *net.TCPConn) {
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := bytes.Repeat([]byte{byte('a' + i)}, size)
				for range 2 {
					if n, err := c.Write(p); err != nil || n != size {
						t.Errorf("%s: Write = %d, %v", name, n, err)
						return
					}
				}
			}()
		}
		cl.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, writers*2*size)
		if _, err := io.ReadFull(cl, buf); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wg.Wait()
		for off := 0; off < len(buf); off += size {
			blk := buf[off : off+size]
			if bytes.Count(blk, blk[:1]) != size {
				t.Fatalf("%s: bytes of different Writes interleave in block at %d", name, off)
			}
		}
	}
	gs, gcl := goTCPPair(t)
	run("go", gs, gcl)
	c, cl := acceptPair(t)
	run("upoll", c, cl)
}

// TestTimedOutWriteRemainderSent: Write's doc says that when the deadline
// passes, n counts the bytes that will go out, the kernel's and those left
// queued, which the poller sends. Writes with short deadlines to a peer that
// reads all the time. After each timed-out Write, every byte Write
// reported must reach the peer without any further call on the
// connection.
func TestTimedOutWriteRemainderSent(t *testing.T) {
	c, cl := acceptPair(t)
	var got atomic.Int64
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := cl.Read(buf)
			got.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	p := make([]byte, 4<<20)
	var sent int64
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 300 && time.Now().Before(deadline); i++ {
		c.SetWriteDeadline(time.Now().Add(time.Duration(rand.IntN(3000)) * time.Microsecond))
		n, err := c.Write(p)
		sent += int64(n)
		if err == nil {
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		wait := time.Now().Add(2 * time.Second)
		for got.Load() < sent && time.Now().Before(wait) {
			time.Sleep(time.Millisecond)
		}
		if g := got.Load(); g != sent {
			c.emu.Lock()
			armed, outLen := c.armed.Load(), c.out.Len()
			c.emu.Unlock()
			t.Fatalf("iteration %d: Writes reported %d bytes, the peer received %d after 2 s idle; out.Len=%d armed=%#x", i, sent, g, outLen, armed)
		}
	}
}
