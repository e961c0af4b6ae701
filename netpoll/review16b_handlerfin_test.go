package netpoll

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestReview16bHandlerCloseEndsWithFIN: Close's doc says that a
// handler's connection ends with a FIN whatever its handler left
// unread. A handler that answers and closes while its peer is still
// sending (4 MiB, more than MaxInput and the socket's buffer take) left
// bytes in the kernel's receive queue, and close(2) turned the end into
// a reset: the peer read the answer, then ECONNRESET instead of io.EOF.
// Each trigger, default backend (UPOLL picks another).
func TestReview16bHandlerCloseEndsWithFIN(t *testing.T) {
	for _, tr := range allTriggers {
		t.Run(tr.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			_, addr := startServer(t, func(c *Conn) error {
				c.Write([]byte("bye"))
				return c.Close()
			}, WithTrigger(tr))
			for i := 0; i < 5; i++ {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				werr := make(chan error, 1)
				go func() {
					_, err := c.Write(make([]byte, 4<<20))
					werr <- err
				}()
				b, err := io.ReadAll(c)
				c.Close()
				<-werr
				if string(b) != "bye" || err != nil {
					t.Fatalf("round %d: the peer read %q, then %v; want \"bye\", then io.EOF", i, b, err)
				}
			}
		})
	}
}
