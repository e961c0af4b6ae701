package netpoll

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUringSendAcrossHandoff: handlers that spin for 0.5-2.5 ms and
// then Flush a reply, so that the watchdog often takes the duty near the
// Flush. send() queues the SEND without submitting it, counting on the
// leader's next io_uring_enter; it looked at the duty before taking u.mu,
// so a hand-off between the look and the queueing, with the new leader
// already blocked in io_uring_enter, could leave the reply unsubmitted
// (a window of a few hundred ns: not seen in 3 runs of 6 s; the look is
// under mu now). Each client waits at most 1 s for its reply (an echo
// here takes a few ms).
func TestUringSendAcrossHandoff(t *testing.T) {
	needUring(t)
	t.Setenv(uringSendEnv, "1")
	var seq atomic.Uint64
	s, addr := startServer(t, func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		msg := append([]byte(nil), b...)
		r.Release()
		spin := time.Duration(500+seq.Add(337)%2000) * time.Microsecond
		for start := time.Now(); time.Since(start) < spin; {
		}
		w := c.Writer()
		if _, err := w.WriteBinary(msg); err != nil {
			return err
		}
		return w.Flush()
	}, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithDispatch(DispatchHandoff))
	const clients = 4
	dur := 3 * time.Second
	var wg sync.WaitGroup
	var rounds, stalls atomic.Int64
	end := time.Now().Add(dur)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			msg := []byte{byte(i), 1, 2, 3, 4, 5, 6, 7}
			got := make([]byte, len(msg))
			for time.Now().Before(end) {
				c.SetDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(msg); err != nil {
					t.Error(err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil {
					stalls.Add(1)
					t.Errorf("client %d: no reply within 1s after %d rounds: %v", i, rounds.Load(), err)
					return
				}
				rounds.Add(1)
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("%d rounds, %d stalls; handoffs %d (watchdog %d), writev %d, submissions %d",
		rounds.Load(), stalls.Load(), st.Handoffs, st.WatchdogHandoffs, st.WriteCalls, st.Submissions)
}
