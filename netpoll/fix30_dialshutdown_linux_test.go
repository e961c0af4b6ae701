package netpoll

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// Shutdown of an accept-mode Server (no handler: a group for a Dialer)
// ends its dials still connecting, as Close does and as Shutdown of a
// Server with a handler does: the dial returns ErrServerClosed and
// Shutdown returns. Shutdown left them to their owner, which has no
// connection yet: it waited until the dial's own deadline (or, with
// none, until the kernel gave up on the connect, minutes later).
func TestAcceptModeShutdownEndsConnectingDial(t *testing.T) {
	hung := hangingAddrs(t, 1)[0].String()
	for _, b := range testBackends(true) {
		s, err := NewServer(nil, WithBackend(b))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
			defer cancel()
			c, err := (&Dialer{Server: s}).DialContext(ctx, "tcp", hung)
			if err == nil {
				c.Close()
			}
			done <- err
		}()
		time.Sleep(100 * time.Millisecond) // the dial is connecting
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("%v: Shutdown = %v", b, err)
		}
		cancel()
		select {
		case err := <-done:
			var oe *net.OpError
			switch {
			case err == nil:
				t.Logf("%v: the kernel completed the connect", b)
			case !errors.Is(err, ErrServerClosed) || !errors.As(err, &oe) || oe.Op != "dial":
				t.Errorf("%v: dial = %v, want a dial *net.OpError wrapping ErrServerClosed", b, err)
			}
		case <-time.After(2 * time.Second):
			t.Errorf("%v: dial still connecting 2 s after Shutdown", b)
			<-done
		}
		s.Close()
	}
}
