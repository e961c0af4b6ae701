package netpoll

import (
	"errors"
	"math"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWriteAfterCloseWriteIsEPIPE: a write after CloseWrite fails as on
// Go's connections (errors.Is(err, syscall.EPIPE)), and is still
// ErrWriteShutdown.
func TestWriteAfterCloseWriteIsEPIPE(t *testing.T) {
	c, cl := acceptPair(t)
	defer cl.Close()
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Write([]byte("x"))
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("Write after CloseWrite = %v, want a write *net.OpError", err)
	}
	if !errors.Is(err, syscall.EPIPE) || !errors.Is(err, ErrWriteShutdown) {
		t.Fatalf("Write after CloseWrite = %v, want EPIPE and ErrWriteShutdown", err)
	}

	// Go's own connection, for reference: the same holds there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	gc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	gc.(*net.TCPConn).CloseWrite()
	if _, err := gc.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Go: Write after CloseWrite = %v, want EPIPE", err)
	}
}

// TestWriteOnResetNamesWrite: a Write on a connection the peer reset
// reports a write system call, as Go's net does, whether a read or the
// write itself saw the reset first.
func TestWriteOnResetNamesWrite(t *testing.T) {
	for round := range 8 {
		c, cl := acceptPair(t)
		cl.SetLinger(0)
		cl.Close() // RST
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if round%4 < 2 {
			// The reset is seen by a read first, as by a server that
			// reads a request before it answers.
			if _, err := c.Read(make([]byte, 16)); !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("round %d: Read after reset = %v, want ECONNRESET", round, err)
			}
		}
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			// Write's fast path goes straight to the kernel, Flush
			// sends what is queued: each has its own error path.
			if round%2 == 0 {
				_, err = c.Write(make([]byte, 1024))
			} else {
				if _, err = c.Writer().WriteBinary(make([]byte, 1024)); err == nil {
					err = c.Writer().Flush()
				}
			}
			if err == nil {
				time.Sleep(time.Millisecond)
			}
		}
		c.Close()
		if err == nil {
			t.Fatalf("round %d: 1000 writes after the peer's reset all succeeded", round)
		}
		var oe *net.OpError
		var se *os.SyscallError
		if !errors.As(err, &oe) || oe.Op != "write" || !errors.As(err, &se) || !strings.HasPrefix(se.Syscall, "write") {
			t.Fatalf("round %d: Write after reset = %v, want a write error from a write call", round, err)
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("round %d: Write after reset = %v, want ECONNRESET or EPIPE", round, err)
		}
	}
}

// TestListenerCloseTwice: a second Close fails as a net.Listener's does,
// with a close *net.OpError wrapping net.ErrClosed, on every backend.
func TestListenerCloseTwice(t *testing.T) {
	for _, b := range []Backend{BackendEpoll, BackendStd} {
		s, err := NewServer(echoHandler, WithBackend(b))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := ln.Close(); err != nil {
			t.Fatalf("%v: first Close = %v", b, err)
		}
		err = ln.Close()
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "close" || !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%v: second Close = %v, want a close error wrapping net.ErrClosed", b, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("%v: server Close after its listener's = %v", b, err)
		}
	}
}

// TestFarFutureDeadlines: a deadline or timeout past what UnixNano can
// hold (after 2262) is as far in the future as the clock goes, as in
// Go's net, not a time in the past.
func TestFarFutureDeadlines(t *testing.T) {
	c, cl := acceptPair(t)
	defer cl.Close()
	far := time.Now().Add(math.MaxInt64)
	if err := c.SetDeadline(far); err != nil {
		t.Fatal(err)
	}
	cl.Write([]byte("x"))
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("Read with a deadline in %d: %v", far.Year(), err)
	}
	if _, err := c.Write(buf); err != nil {
		t.Fatalf("Write with a deadline in %d: %v", far.Year(), err)
	}
	c.SetDeadline(time.Time{})
	c.SetReadTimeout(math.MaxInt64)
	cl.Write([]byte("y"))
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("Read with a read timeout of MaxInt64: %v", err)
	}
}
