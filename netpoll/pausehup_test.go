package netpoll

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestPausedEOF: a peer that sends more than the read-ahead and then
// shuts down its side is read to the last byte and then io.EOF, in every
// trigger mode, though its connection was paused when the FIN came.
func TestPausedEOF(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithTrigger(trig))
			src := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
			if _, err := cl.Write(src); err != nil {
				t.Fatal(err)
			}
			cl.CloseWrite()
			time.Sleep(50 * time.Millisecond) // paused, FIN in the kernel
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("ReadAll: %d of %d bytes, %v", len(got), len(src), err)
			}
		})
	}
}

// TestPausedHangupNoSpin: a connection paused at its read-ahead whose
// socket then hangs up in both directions does not make its poller spin
// on the hang-up (level-triggered epoll reports EPOLLHUP whatever the
// mask), and its input is still delivered whole.
func TestPausedHangupNoSpin(t *testing.T) {
	skipStd(t, "epoll re-arming of a paused connection")
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			s, addr, conns := startAccept(t, WithTrigger(trig))
			cl := dialTCP(t, addr)
			c := recvConn(t, conns)
			defer c.Close()
			src := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
			if _, err := cl.Write(src); err != nil {
				t.Fatal(err)
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().PausedByBound == 1 }) {
				t.Fatalf("not paused: %+v", s.Stats().PollerStats)
			}
			c.CloseWrite()
			cl.Close()
			time.Sleep(50 * time.Millisecond)
			before := s.Stats().Events
			time.Sleep(200 * time.Millisecond)
			if n := s.Stats().Events - before; n > 20 {
				t.Fatalf("%d events in 200 ms on a paused, hung-up connection: the poller spins", n)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c)
			if !bytes.Equal(got, src) {
				t.Fatalf("ReadAll: %d of %d bytes, %v", len(got), len(src), err)
			}
		})
	}
}
