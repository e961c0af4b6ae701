package netpoll

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// A level-triggered io_uring connection that wants no input (paused at
// its bound, or past the peer's EOF) must not make its poller spin once
// the peer has shut down its side: io_uring's poll watches for POLLRDHUP
// whether asked or not, and a level poll armed again after each
// completion completed at once for as long as the FIN stood, an
// io_uring_enter per turn. Over an idle 300 ms the poller may wake a few
// times; the spin made 340,000 enters. After the idle window the
// connection must still read the rest and the end, and write an answer
// larger than the socket buffers as the peer reads it (a fix that armed a
// multishot poll instead stalled there: it was queued by the reap and
// not submitted before the poller parked).
func TestUringLevelIdleAfterPeerFIN(t *testing.T) {
	needUring(t)
	cases := map[string]struct {
		send  int  // bytes the peer sends before its FIN
		drain bool // the reader takes everything (then sees EOF)
	}{
		"paused at bound": {send: 64 << 10},
		"past EOF":        {send: 100, drain: true},
	}
	for name, tc := range cases {
		for _, trig := range []Trigger{LevelTriggered, OneShot, EdgeTriggered} {
			t.Run(name+"/"+trig.String(), func(t *testing.T) {
				s, addr, conns := startAccept(t, WithBackend(BackendUring), WithTrigger(trig),
					WithMaxInput(4<<10))
				cl := dialTCP(t, addr)
				c := recvConn(t, conns)
				defer c.Close()
				if _, err := cl.Write(bytes.Repeat([]byte("x"), tc.send)); err != nil {
					t.Fatal(err)
				}
				if err := cl.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if tc.drain {
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					if got, err := io.ReadAll(c); err != nil || len(got) != tc.send {
						t.Fatalf("ReadAll = %d bytes, %v", len(got), err)
					}
				}
				time.Sleep(100 * time.Millisecond) // the FIN has arrived, the poller has seen it
				before := s.Stats().Enters
				time.Sleep(300 * time.Millisecond)
				enters := s.Stats().Enters - before
				if enters > 200 {
					t.Fatalf("%d io_uring_enter calls in 300 ms with nothing to do: the poller spins on the peer's FIN", enters)
				}
				t.Logf("%d io_uring_enter calls in 300 ms", enters)
				// Quiet is not deaf: a paused reader resumes and gets the
				// rest and the end; past EOF, an answer larger than the
				// socket buffers goes out as the peer reads it (the
				// writer waits for room that the poll reports).
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if !tc.drain {
					if got, err := io.ReadAll(c); err != nil || len(got) != tc.send {
						t.Fatalf("ReadAll after the pause = %d bytes, %v; want %d and EOF", len(got), err, tc.send)
					}
				}
				const answer = 8 << 20
				done := make(chan error, 1)
				go func() {
					_, err := c.Write(bytes.Repeat([]byte("y"), answer))
					c.Close()
					done <- err
				}()
				time.Sleep(100 * time.Millisecond) // the writer fills the socket and waits
				cl.SetReadDeadline(time.Now().Add(10 * time.Second))
				got, err := io.Copy(io.Discard, cl)
				werr := <-done
				if err != nil || got != answer || werr != nil {
					t.Fatalf("the peer read %d bytes of the answer, %v; want %d (the Write: %v)", got, err, answer, werr)
				}
			})
		}
	}
}
