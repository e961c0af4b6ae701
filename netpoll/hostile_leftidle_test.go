package netpoll

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// TestHostileLeftInputIdleTimeout: as TestHostileLeftInputHeldPastReadTimeout
// (tag rvdemo), peers leave 100 KiB of a 1 GiB frame with a handler that
// returns leaving it buffered (exempt from the budget), then send
// nothing. ReadTimeout does not apply (no reader waits); IdleTimeout is
// what bounds how long they hold it (Config.BufferBudget): with one of
// 300 ms, every such connection is closed and its input freed within 2 s.
func TestHostileLeftInputIdleTimeout(t *testing.T) {
	const (
		maxIn  = 128 << 10
		budget = 1 << 20
		peers  = 24
		idle   = 300 * time.Millisecond
	)
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			s, addr := startServer(t, hostileFrameHandler, WithBackend(be),
				WithMaxInput(maxIn), WithMaxOutput(maxIn), WithBufferBudget(budget),
				WithIdleTimeout(idle))
			payload := make([]byte, 100<<10)
			binary.BigEndian.PutUint32(payload, 1<<30)
			for range peers {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				if _, err := c.Write(payload); err != nil {
					t.Fatal(err)
				}
			}
			var st Stats
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if st = s.Stats(); st.LiveConns == 0 && st.BufferedIn == 0 {
					return
				}
			}
			t.Fatalf("2 s after the last byte, idle timeout %v: %d connections hold %d bytes", idle, st.LiveConns, st.BufferedIn)
		})
	}
}
