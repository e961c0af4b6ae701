package netpoll

import (
	"io"
	"testing"
	"time"
)

// TestIdleSweepPeriodRisesAgain: the sweep period is "a quarter of the
// smallest idle timeout among this poller's connections". Once the one
// connection that set a 4 ms idle timeout is gone, a poller whose other
// connections have none (or long ones) must stop waking every
// millisecond to sweep them. It used to keep the 1 ms period for the
// rest of its life: about 1,000 wake-ups a second, each walking every
// connection of the poller.
func TestIdleSweepPeriodRisesAgain(t *testing.T) {
	skipStd(t, "counts the poller's waits")
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) {
			s, addr, conns := startAccept(t, WithBackend(b), WithPollers(1))
			// Some connections without an idle timeout.
			for range 50 {
				dialTCP(t, addr)
				recvConn(t, conns)
			}
			cl := dialTCP(t, addr)
			sc := recvConn(t, conns)
			if err := sc.SetIdleTimeout(4 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			cl.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := cl.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("read = %v, want the idle close's EOF", err)
			}
			time.Sleep(200 * time.Millisecond)
			s0 := s.Stats()
			time.Sleep(time.Second)
			s1 := s.Stats()
			// epoll_wait calls, or parks in the runtime (io_uring)
			w := max(s1.Waits-s0.Waits, s1.Parks-s0.Parks)
			t.Logf("waits in 1 s after the short-timeout connection closed: %d", w)
			if w > 100 {
				t.Fatalf("the poller woke %d times in 1 s with no connection left that has an idle timeout", w)
			}
		})
	}
}
