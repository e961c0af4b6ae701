package netpoll

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/upoll/upoll/internal/testutil"
)

// TestServeReturnsWhenSocketFails: a listening socket that fails for
// good (here shut down through the net.Listener that Server.WrapListener
// shares it with, so accept fails with EINVAL) ends Serve with an accept
// error naming the cause, on every backend. Serve used to wait for ever
// while the socket, no longer polled, took no connection.
func TestServeReturnsWhenSocketFails(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, err := NewServer(echoHandler, WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			nl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer nl.Close()
			ln, err := s.WrapListener(nl)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			served := make(chan error, 1)
			go func() { served <- s.Serve(ln) }()

			checkEchoes(t, ln.Addr().String()) // served: the socket is watched

			rc, err := nl.(*net.TCPListener).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var shutErr error
			rc.Control(func(fd uintptr) { shutErr = unix.Shutdown(int(fd), unix.SHUT_RD) })
			if shutErr != nil {
				t.Fatal(shutErr)
			}
			err = testutil.Receive(t, served, 5*time.Second, "return from Serve after the socket failed")
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "accept" {
				t.Fatalf("Serve = %v, want an accept *net.OpError", err)
			}
			var se *os.SyscallError
			if !errors.As(err, &se) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Serve = %v, want a system call error wrapping EINVAL", err)
			}
			if errors.Is(err, net.ErrClosed) || errors.Is(err, ErrServerClosed) {
				t.Fatalf("Serve = %v, reported as a close", err)
			}
		})
	}
}

// TestAcceptStepAfter: the accept errors that concern one queued
// connection skip it, running out of descriptors or memory backs off,
// and any other errno (the socket itself failed) stops; errors wrapped
// by Go's net are judged by their errno.
func TestAcceptStepAfter(t *testing.T) {
	wrapped := func(e syscall.Errno) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", e)}
	}
	for _, tc := range []struct {
		err  error
		want acceptStep
	}{
		{unix.ECONNABORTED, acceptNext},
		{unix.EPROTO, acceptNext},
		{unix.ENETDOWN, acceptNext},
		{unix.EHOSTUNREACH, acceptNext},
		{unix.EPERM, acceptNext},
		{wrapped(unix.ENONET), acceptNext},
		{unix.EMFILE, acceptBackOff},
		{wrapped(unix.ENFILE), acceptBackOff},
		{unix.ENOBUFS, acceptBackOff},
		{unix.ENOMEM, acceptBackOff},
		{errors.New("no errno"), acceptBackOff},
		{unix.EINVAL, acceptStop},
		{wrapped(unix.EBADF), acceptStop},
		{unix.ENOTSOCK, acceptStop},
	} {
		if got := acceptStepAfter(tc.err); got != tc.want {
			t.Errorf("acceptStepAfter(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
