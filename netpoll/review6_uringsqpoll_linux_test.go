package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUringSQPollCloseBeforeTaken: under SQPOLL the kernel's thread
// takes the submission queue later, and del cancels a connection's
// requests by user data, then the caller closes the descriptor. A
// request of the old connection still in the queue (the loop's receive
// and poll, published with the cancellation) was issued on the socket
// of the next connection to get the descriptor number: its receive took
// that connection's first bytes, which nobody owned, and the new
// connection waited for them for good. Clients here send a message and
// half of them reset at once (a close on the server); every echo must
// come back.
func TestUringSQPollCloseBeforeTaken(t *testing.T) {
	needUring(t)
	t.Setenv(uringSQPollEnv, "1")
	for _, pollers := range []int{1, 2} {
		t.Run(fmt.Sprint("pollers=", pollers), func(t *testing.T) {
			_, addr := startServer(t, echoHandler, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(pollers))
			var failed atomic.Bool
			var wg sync.WaitGroup
			for wi := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewSource(int64(wi)))
					for i := 0; i < 300 && !failed.Load(); i++ {
						msg := make([]byte, 1+rng.Intn(40000))
						rng.Read(msg)
						c, err := net.DialTimeout("tcp", addr, 5*time.Second)
						if err != nil {
							t.Error(err)
							failed.Store(true)
							return
						}
						c.SetDeadline(time.Now().Add(3 * time.Second))
						c.Write(msg)
						if i%2 == 0 {
							c.(*net.TCPConn).SetLinger(0) // a reset: the server closes its side
							c.Close()
							continue
						}
						got := make([]byte, len(msg))
						if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
							t.Errorf("worker %d, connection %d (%d bytes): echo %v", wi, i, len(msg), err)
							failed.Store(true)
						}
						c.Close()
					}
				}()
			}
			wg.Wait()
		})
	}
}
