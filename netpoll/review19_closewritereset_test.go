package netpoll

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestCloseWriteAfterResetDuringWrite: a Write blocked on a peer that
// does not read fails when the peer's close resets the connection; a
// CloseWrite after that fails as Go's does, with shutdown's ENOTCONN
// (the socket is no longer connected), and the next Write fails too.
// Before, the output the failed Write left queued made CloseWrite wait
// for it to be sent, which it never is, and return nil: the caller was
// told that the end was sent.
func TestCloseWriteAfterResetDuringWrite(t *testing.T) {
	// Go's own, for the record of what the adapter's conformance
	// expects: the same sequence on a *net.TCPConn.
	goErr := closeWriteAfterReset(t, func() (net.Conn, net.Conn) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		cl := dialTCP(t, ln.Addr().String())
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, cl
	})
	if !errors.Is(goErr, syscall.ENOTCONN) {
		t.Fatalf("Go's CloseWrite after the reset = %v, want ENOTCONN (the test's premise)", goErr)
	}
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			err := closeWriteAfterReset(t, func() (net.Conn, net.Conn) {
				cl := dialTCP(t, addr)
				c := recvConn(t, conns)
				t.Cleanup(func() { c.Close() })
				return c, cl
			})
			if !errors.Is(err, syscall.ENOTCONN) {
				t.Errorf("CloseWrite after the reset = %v, want ENOTCONN as Go's", err)
			}
		})
	}
}

// closeWriteAfterReset writes to c until the peer's close (with input
// it did not read: a reset) fails the write, then returns CloseWrite's
// error.
func closeWriteAfterReset(t *testing.T, pair func() (c, peer net.Conn)) error {
	t.Helper()
	c, peer := pair()
	peer.Write([]byte("unread")) // makes the peer's close a reset
	time.Sleep(20 * time.Millisecond)
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	go func() {
		time.Sleep(100 * time.Millisecond)
		peer.Close()
	}()
	if _, err := c.Write(make([]byte, 64<<20)); err == nil || errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write: %v, want the reset", err)
	}
	err := c.(interface{ CloseWrite() error }).CloseWrite()
	if _, werr := c.Write([]byte("x")); werr == nil {
		t.Errorf("Write after CloseWrite on a reset connection succeeded")
	}
	return err
}

// TestCloseWriteAgainQueuedAfterReset: a CloseWrite whose shutdown waits for
// queued output (a Write timed out on a peer that does not read) returns
// nil; when the peer then resets the connection, that output will never
// go, and a second CloseWrite reports the socket's state as Go's does
// (ENOTCONN) instead of nil for a shutdown still to come.
func TestCloseWriteAgainQueuedAfterReset(t *testing.T) {
	seq := func(t *testing.T, c, peer net.Conn) (first, second error) {
		c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := c.Write(make([]byte, 16<<20)); err == nil {
			t.Fatal("a 16 MiB Write to a peer that does not read did not time out")
		}
		c.SetWriteDeadline(time.Time{})
		cw := c.(interface{ CloseWrite() error })
		first = cw.CloseWrite()
		peer.(*net.TCPConn).SetLinger(0)
		peer.Close()
		time.Sleep(50 * time.Millisecond)
		return first, cw.CloseWrite()
	}
	gc, cl := goTCPPair(t)
	first, second := seq(t, gc, cl)
	if first != nil || !errors.Is(second, syscall.ENOTCONN) {
		t.Fatalf("Go's CloseWrite: %v, then after the reset %v; want nil, then ENOTCONN (the test's premise)", first, second)
	}
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			cl := dialTCP(t, addr)
			c := recvConn(t, conns)
			defer c.Close()
			first, second := seq(t, c, cl)
			if first != nil {
				t.Errorf("CloseWrite with output queued = %v, want nil as Go's", first)
			}
			if !errors.Is(second, syscall.ENOTCONN) {
				t.Errorf("CloseWrite again after the reset = %v, want ENOTCONN as Go's", second)
			}
		})
	}
}
