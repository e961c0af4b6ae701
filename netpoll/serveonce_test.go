package netpoll

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestServeAfterShutdownClosesListener: Shutdown and Close close every
// listener given to the server, so one handed to Serve after they began
// is closed too (as http.Server.Serve does), not left listening with
// nobody to accept: a dial to it is refused.
func TestServeAfterShutdownClosesListener(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, err := NewServer(echoHandler, WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := Listen("tcp", "127.0.0.1:0", WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := s.Shutdown(shutdownCtx(t)); err != nil {
				t.Fatal(err)
			}
			if err := s.Serve(ln); err != ErrServerClosed {
				t.Fatalf("Serve after Shutdown = %v, want ErrServerClosed", err)
			}
			c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
			if err == nil {
				c.Close()
				t.Fatal("the listener given to Serve after Shutdown still accepts connections")
			}
		})
	}
}

// TestServeListenerOnce: a second Serve of one Listener fails at once
// with ErrListenerServed, on every backend and whichever poller it
// would pick, and the first Serve goes on serving.
func TestServeListenerOnce(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			opts := []Option{WithBackend(b)}
			if b != BackendStd {
				opts = append(opts, WithPollers(2))
			}
			s, err := NewServer(echoHandler, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := s.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(ln) }()
			checkEchoes(t, ln.Addr().String()) // the first Serve is accepting
			// Twice, so that the round-robin offers both pollers.
			for range 2 {
				second := make(chan error, 1)
				go func() { second <- s.Serve(ln) }()
				err := testutil.Receive(t, second, 5*time.Second, "return from the second Serve")
				var oe *net.OpError
				if !errors.Is(err, ErrListenerServed) || !errors.As(err, &oe) || oe.Op != "accept" {
					t.Fatalf("second Serve = %v, want an accept OpError wrapping ErrListenerServed", err)
				}
			}
			other, err := NewServer(echoHandler, WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if err := other.Serve(ln); !errors.Is(err, ErrListenerServed) {
				t.Fatalf("Serve by another server = %v, want ErrListenerServed", err)
			}
			checkEchoes(t, ln.Addr().String()) // the first goes on
			ln.Close()
			if err := testutil.Receive(t, served, 5*time.Second, "return from Serve"); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("first Serve after Listener.Close = %v", err)
			}
		})
	}
}

// shutdownCtx bounds a Shutdown in a test.
func shutdownCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}
