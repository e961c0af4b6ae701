package netpoll

import (
	"runtime"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestRoomWaitDoesNotSpin: while ReadFrom (sendfile, splice) waits for
// room, the poller that wakes it must not be told of the room again and
// again before the writer has run. The poller does not take the room
// itself (the writer sends from its descriptor, not from the queue), so
// a level-triggered or one-shot registration that kept asking for
// EPOLLOUT reported it on every wait: under GOMAXPROCS=1 the poller,
// which holds the only P while a pass finds events, looped on it (1,940
// events in 400 ms in one traced run) until the runtime preempted it,
// and the writer and the peer (whose 10 ms timer came 600 ms late)
// stalled behind it: TestReview6ReadFromWriteTimeoutSteadyPeer timed
// out in about one run in seven at GOMAXPROCS=1. Each wait for room
// follows a write that the socket refused (WriteEAGAIN), and should
// cost an event or two, not hundreds.
func TestRoomWaitDoesNotSpin(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const size = 512 << 10
	for _, b := range testBackends(false) {
		for _, trig := range allTriggers {
			for _, how := range []string{"file", "socket"} {
				t.Run(b.String()+"/"+trig.String()+"/"+how, func(t *testing.T) {
					s, addr, conns := startAccept(t, WithBackend(b), WithTrigger(trig), WithMaxOutput(64<<10))
					cl := dialTCP(t, addr)
					cl.SetReadBuffer(16 << 10)
					sc := recvConn(t, conns)
					defer sc.Close()
					sc.SetWriteBuffer(16 << 10)
					read := make(chan int, 1)
					go func() {
						buf := make([]byte, 16<<10)
						total := 0
						defer func() { read <- total }()
						cl.SetReadDeadline(time.Now().Add(20 * time.Second))
						for i := 0; i < 10000 && total < size; i++ {
							time.Sleep(2 * time.Millisecond) // a steady reader, slower than the writer
							n, err := cl.Read(buf)
							total += n
							if err != nil {
								return
							}
						}
					}()
					data := stream(size, 7)
					before := s.Stats()
					n, err := sendVia(t, sc, how, data)
					after := s.Stats()
					if err != nil || n != size {
						t.Fatalf("ReadFrom: %d of %d, %v", n, size, err)
					}
					if got := testutil.Receive(t, read, 20*time.Second, "the peer's total"); got != size {
						t.Fatalf("the peer read %d bytes of %d", got, size)
					}
					events := after.Events - before.Events
					refused := after.WriteEAGAIN - before.WriteEAGAIN
					t.Logf("%d events for %d refused writes (%d sendfile, %d splice calls)", events, refused,
						after.Sendfiles-before.Sendfiles, after.Splices-before.Splices)
					if refused == 0 {
						t.Fatalf("no write was refused: the socket never filled, and nothing waited for room")
					}
					if limit := 3*refused + 20; events > limit {
						t.Fatalf("%d events while ReadFrom waited for room %d times: over %d, the room was reported again before the writer ran",
							events, refused, limit)
					}
				})
			}
		}
	}
}
