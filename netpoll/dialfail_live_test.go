package netpoll

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestFailedDialLeavesNoLiveConn: once DialContext has returned its
// error, the socket it tried is no live connection: LiveConns reads 0 at
// once, as it reads 0 under BackendStd, which registers a connection
// only once Go's dial has one. Before, the poller that took the
// connect's refusal still held the connection while the dial returned,
// and it left LiveConns only when the poller let go: the read right
// after the dial saw 1 in 1 to 3 of 1,000 refused dials on epoll, 1 in 6
// under -race, and on io_uring under -race. Not deterministic (the
// window is the poller's, between waking the dial and dropping its
// reference), so the test dials up to 1,000 times.
func TestFailedDialLeavesNoLiveConn(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			opts := []Option{WithBackend(be)}
			if be != BackendStd {
				opts = append(opts, WithPollers(1))
			}
			s, err := NewServer(echoHandler, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			refused := ln.Addr().String()
			ln.Close() // nothing listens there now
			d := Dialer{Server: s, Timeout: 5 * time.Second}
			deadline := time.Now().Add(10 * time.Second)
			dials := 0
			for ; dials < 1000 && time.Now().Before(deadline); dials++ {
				c, err := d.DialContext(context.Background(), "tcp", refused)
				if err == nil {
					c.Close()
					t.Fatal("a dial of a closed port succeeded")
				}
				if n := s.Stats().LiveConns; n != 0 {
					t.Fatalf("LiveConns %d right after refused dial %d returned (%v)", n, dials+1, err)
				}
			}
			if st := s.Stats(); st.TotalConns != 0 {
				t.Errorf("TotalConns %d after %d refused dials, want 0", st.TotalConns, dials)
			}
		})
	}
}

// TestLiveConnsDialInFlight pins LiveConns' doc for a dial still
// connecting: counted on epoll and io_uring, whose sockets wait for the
// connect registered on a poller, not under BackendStd, whose dial runs
// in Go's net; either way it is out of LiveConns, and never was in
// TotalConns, once the dial has returned its timeout.
func TestLiveConnsDialInFlight(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			hung := unresponsiveAddr(t)
			s, err := NewServer(echoHandler, WithBackend(be))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			d := Dialer{Server: s, Timeout: time.Second}
			done := make(chan error, 1)
			go func() {
				c, err := d.DialContext(context.Background(), "tcp", hung)
				if err == nil {
					c.Close()
				}
				done <- err
			}()
			want := int64(1)
			if be == BackendStd {
				want = 0
			}
			time.Sleep(200 * time.Millisecond) // the dial is connecting
			live := s.Stats().LiveConns
			err = testutil.Receive(t, done, 5*time.Second, "the dial's timeout")
			if err == nil {
				t.Skip("the kernel completed the connect despite the full queue")
			}
			if live != want {
				t.Errorf("LiveConns %d while a dial was connecting, want %d", live, want)
			}
			if st := s.Stats(); st.LiveConns != 0 || st.TotalConns != 0 {
				t.Errorf("after the dial timed out (%v): LiveConns %d, TotalConns %d; want 0, 0", err, st.LiveConns, st.TotalConns)
			}
		})
	}
}
