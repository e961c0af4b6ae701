package netpoll

import (
	"io"
	"reflect"
	"testing"

	"github.com/upoll/upoll/internal/uring"
)

// TestEchoRoundTripAllocs: a handler-mode echo allocates nothing per
// round trip once warm, the client's net.Conn calls included: on epoll
// at its defaults (the poller parking in the runtime between messages;
// a closure per park once cost three allocations per message), and on
// BackendStd (whose Flush once moved its vector array to the heap: one
// allocation per message), and on io_uring.
func TestEchoRoundTripAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("allocation counts mean nothing under -race (sync.Pool drops items at random)")
	}
	t.Run("epoll", func(t *testing.T) {
		skipStd(t, "the poller's park in the runtime")
		s, addr := startServer(t, echoOnce, WithWait(WaitRuntime), WithPollers(1), WithDispatch(DispatchHandoff))
		testRoundTripAllocs(t, addr, func() uint64 { return s.Stats().Parks })
	})
	t.Run("uring", func(t *testing.T) {
		if err := uring.Available(); err != nil {
			t.Skipf("io_uring: %v", err)
		}
		// At its defaults, as upoll-uring-echo runs: the answers go out
		// as ring sends (whose vector array once moved to the heap,
		// 384 bytes per message). The dispatch and trigger that ring
		// sends need are named: UPOLL may change the defaults, and the
		// case would then fail for want of ring sends; so is the
		// experiment's switch that turns them off (uringSendEnv).
		t.Setenv("UPOLL_URING_SEND", "")
		s, addr := startServer(t, echoOnce, WithBackend(BackendUring), WithPollers(1),
			WithDispatch(DispatchHandoff), WithTrigger(EdgeTriggered))
		testRoundTripAllocs(t, addr, nil)
		if st := s.Stats(); st.WriteCalls*2 > st.BytesOut/64 {
			t.Fatalf("%d write calls for %d messages: the answers did not go out as ring sends", st.WriteCalls, st.BytesOut/64)
		}
	})
	t.Run("std", func(t *testing.T) {
		_, addr := startServer(t, echoOnce, WithBackend(BackendStd))
		testRoundTripAllocs(t, addr, nil)
	})
}

// echoOnce writes back what is buffered.
func echoOnce(c *Conn) error {
	r, w := c.Reader(), c.Writer()
	p, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	w.WriteBinary(p)
	r.Release()
	return w.Flush()
}

// testRoundTripAllocs fails unless 64-byte round trips with the echo at
// addr allocate nothing. parks, if not nil, counts the poller's parks,
// which the round trips must have made.
func testRoundTripAllocs(t *testing.T, addr string, parks func() uint64) {
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
	var before uint64
	if parks != nil {
		before = parks()
	}
	allocs := testing.AllocsPerRun(2000, roundTrip)
	if parks != nil && parks() == before {
		t.Fatal("the poller never parked: the case does not test the park")
	}
	if allocs > 0.05 {
		t.Fatalf("%.2f allocations per round trip, want 0", allocs)
	}
}

// TestRemoteAddrAllocs: an accepted TCP connection's RemoteAddr is one
// allocation, the address with its IP (net/http's server builds one per
// request whose background read it aborts, in the read's error), and
// equals, DeepEqual included, what Go's net gives for the same peer:
// the dialing side's LocalAddr.
func TestRemoteAddrAllocs(t *testing.T) {
	if raceBuild {
		t.Skip("allocation counts mean nothing under -race")
	}
	skipStd(t, "BackendStd's RemoteAddr is Go's")
	_, addr, ch := startAccept(t)
	cl := dialTCP(t, addr)
	c := recvConn(t, ch)
	if got, want := c.RemoteAddr(), cl.LocalAddr(); !reflect.DeepEqual(got, want) {
		t.Fatalf("RemoteAddr() = %#v, want %#v", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.RemoteAddr() }); n != 1 {
		t.Fatalf("RemoteAddr allocates %v times, want 1", n)
	}
}
