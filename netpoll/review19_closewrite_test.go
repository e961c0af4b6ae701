package netpoll

import (
	"errors"
	"io"
	"math/rand"
	"net"
	"testing"
	"time"
)

// TestCloseWriteAfterCloseLeavesWrite: a CloseWrite that comes after
// Close fails with net.ErrClosed and does nothing else, as Go's does
// (its incref fails before it touches the socket). A Write still
// running when the Close came fails as closed (or completes). Before,
// the CloseWrite asked the writer to stop (fShutAsked), and a Write
// between two chunks returned EPIPE, as if CloseWrite had come first.
func TestCloseWriteAfterCloseLeavesWrite(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			// A small MaxOutput makes a Write to a peer that reads
			// go out in many chunks, looking for the stop between each.
			_, addr, conns := startAccept(t, WithBackend(b), WithMaxOutput(8<<10))
			const rounds = 200
			bad := 0
			for i := range rounds {
				cl := dialTCP(t, addr)
				copied := make(chan struct{})
				go func() {
					io.Copy(io.Discard, cl)
					close(copied)
				}()
				c := recvConn(t, conns)
				res := make(chan error, 1)
				go func() {
					_, err := c.Write(make([]byte, 4<<20))
					res <- err
				}()
				time.Sleep(time.Duration(rand.Intn(2000)) * time.Microsecond)
				c.Close()
				if err := c.CloseWrite(); !errors.Is(err, net.ErrClosed) {
					t.Errorf("round %d: CloseWrite after Close = %v, want net.ErrClosed", i, err)
				}
				select {
				case err := <-res:
					if err != nil && !errors.Is(err, net.ErrClosed) {
						if bad == 0 {
							t.Logf("round %d: Write: %v", i, err)
						}
						bad++
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("round %d: Write still blocked 5 s after Close", i)
				}
				cl.Close()
				<-copied
			}
			if bad > 0 {
				t.Errorf("%d of %d Writes failed with another error than net.ErrClosed", bad, rounds)
			}
		})
	}
}
