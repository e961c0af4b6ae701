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
