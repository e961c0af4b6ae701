package netpoll

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestListenerCloseRefuses: from Listener.Close on, dials to a served
// listener's address are refused, on every backend, as with a
// net.Listener. Under uring the socket used to listen on until the
// cancelled poll request let go of it (task work on the thread that
// submitted it), a moment after close(2): a dial in between completed
// into the backlog and was reset later (7 of 20 runs saw one).
func TestListenerCloseRefuses(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, err := NewServer(echoHandler, WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for round := range 20 {
				ln, err := s.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				served := make(chan error, 1)
				go func() { served <- s.Serve(ln) }()
				checkEchoes(t, ln.Addr().String()) // served: the listener is watched
				ln.Close()
				if err := testutil.Receive(t, served, 5*time.Second, "return from Serve"); !errors.Is(err, net.ErrClosed) {
					t.Fatalf("round %d: Serve after Listener.Close = %v", round, err)
				}
				d, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
				if err == nil {
					d.Close()
					t.Fatalf("round %d: a dial right after Listener.Close connected", round)
				}
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("round %d: dial after Listener.Close: %v, want connection refused", round, err)
				}
			}
		})
	}
}
