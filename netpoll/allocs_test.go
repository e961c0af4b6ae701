package netpoll

import (
	"io"
	"testing"
)

// TestEchoRoundTripAllocs: a handler-mode echo at its defaults (the
// poller parking in the runtime between messages) allocates nothing per
// round trip once warm, the client's net.Conn calls included. A closure
// per runtime park once cost three allocations per message here.
func TestEchoRoundTripAllocs(t *testing.T) {
	skipStd(t, "the poller's park in the runtime")
	if raceBuild {
		t.Skip("allocation counts mean nothing under -race (sync.Pool drops items at random)")
	}
	echo := func(c *Conn) error {
		r, w := c.Reader(), c.Writer()
		p, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w.WriteBinary(p)
		r.Release()
		return w.Flush()
	}
	s, addr := startServer(t, echo, WithWait(WaitRuntime), WithPollers(1))
	cl := dialTCP(t, addr)
	msg, buf := make([]byte, 64), make([]byte, 64)
	roundTrip := func() {
		if _, err := cl.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(cl, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 200 {
		roundTrip()
	}
	parks := s.Stats().Parks
	allocs := testing.AllocsPerRun(2000, roundTrip)
	if s.Stats().Parks == parks {
		t.Fatal("the poller never parked: the case does not test the park")
	}
	if allocs > 0.05 {
		t.Fatalf("%.2f allocations per round trip, want 0", allocs)
	}
}
