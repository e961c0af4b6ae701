package netpoll

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestShutdownSeesInputInTransit: a request that the poller has read
// from the socket but not yet put into the connection's buffer is in
// neither place. Shutdown must not take its connection for idle then:
// the poller here is held between its read and the publication (the
// thread of a loaded machine descheduled there) while Shutdown looks;
// the request must be answered, then the connection closed. Shutdown
// used to look from its own goroutine, and closed the connection, the
// request unanswered.
func TestShutdownSeesInputInTransit(t *testing.T) {
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, addr := startServer(t, echoHandler, WithBackend(b), WithPollers(1))
			c := dialTCP(t, addr)
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().TotalConns == 1 }) {
				t.Fatal("the connection was not accepted")
			}
			held, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			hook := func(_ *Conn, m int) {
				if m > 0 {
					once.Do(func() { close(held); <-release })
				}
			}
			testHookRead.Store(&hook)
			defer testHookRead.Store(nil)
			var releaseOnce sync.Once
			unblock := func() { releaseOnce.Do(func() { close(release) }) }
			defer unblock()
			if _, err := c.Write([]byte("q")); err != nil {
				t.Fatal(err)
			}
			testutil.Receive(t, held, 5*time.Second, "the poller's read of the request")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- s.Shutdown(ctx) }()
			time.Sleep(50 * time.Millisecond) // Shutdown looks every few ms
			unblock()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "q" {
				t.Errorf("after Shutdown: read %q, %v; want %q, then EOF", got, err, "q")
			}
			if err := testutil.Receive(t, shut, 5*time.Second, "Shutdown"); err != nil {
				t.Errorf("Shutdown = %v", err)
			}
		})
	}
}
