package netpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/uring"
)

// A registration whose io_uring submission fails is undone: the dial
// fails with the submission's error, and the next socket given the same
// descriptor number registers (it used to find the failed one's entry
// and fail with EEXIST), and its peer sees its close (the failed one's
// poll, left queued in the ring, is cancelled with it, not left
// watching the new socket and holding it open: on a single-issuer ring
// the close cancels the new socket's requests by their user data, not
// every request on the descriptor).
func TestUringAddSubmitFailUndone(t *testing.T) {
	if err := uring.Available(); err != nil {
		t.Skip("io_uring unavailable:", err)
	}
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"handoff", nil},
		{"single-issuer", []Option{WithDispatch(DispatchInline), WithWait(WaitBlock)}},
	} {
		t.Run(tc.name, func(t *testing.T) { testUringAddSubmitFail(t, tc.opts) })
	}
}

func testUringAddSubmitFail(t *testing.T, opts []Option) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := Dialer{Options: append([]Option{WithBackend(BackendUring)}, opts...), Timeout: 5 * time.Second}
	// The group's pollers are made by its first dial: before the hooks.
	warm, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	if p, err := ln.Accept(); err == nil {
		p.Close()
	}

	var fds []int
	hook := func(fd int, sa sockaddr) { fds = append(fds, fd) }
	testHookDialSocket.Store(&hook)
	defer testHookDialSocket.Store(nil)
	failed := errors.New("injected submission failure")
	testHookAddSubmit = func() error { return failed }
	_, err = d.DialContext(context.Background(), "tcp", ln.Addr().String())
	testHookAddSubmit = nil
	if !errors.Is(err, failed) {
		t.Fatalf("dial with a failed submission: %v, want the submission's error", err)
	}
	c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	testHookDialSocket.Store(nil)
	if err != nil {
		t.Fatalf("the next dial: %v", err)
	}
	if len(fds) != 2 || fds[0] != fds[1] {
		c.Close()
		t.Skipf("the second socket got another descriptor (%v): nothing checked", fds)
	}

	// Both connections reached the listener; the first was closed.
	var peers []net.Conn
	defer func() {
		for _, p := range peers {
			p.Close()
		}
	}()
	for range 2 {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		p, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatalf("write on the second connection: %v", err)
	}
	buf := make([]byte, 8)
	peers[1].SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := peers[1].Read(buf); n != 1 || err != nil {
		t.Fatalf("the peer read %d, %v", n, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	peers[1].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := peers[1].Read(buf); err != io.EOF {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the peer saw no close: the socket is held open")
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("the peer's read after the close: %v, want EOF", err)
		}
	}
}
