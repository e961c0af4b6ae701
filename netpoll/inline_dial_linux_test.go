package netpoll

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestInlineDialThroughIdleServerRefused: an inline handler's dials
// through another DispatchInline Server whose loop is free take the
// connect's outcome from the socket (pollConnect) while that loop may
// take it from its event at the same time: one of the two takes it
// (SO_ERROR reads once), and a refused connect is reported refused, each
// of 50 times.
func TestInlineDialThroughIdleServerRefused(t *testing.T) {
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			// A port bound and not listening refuses connects, and stays
			// taken: a port closed after its Listen may be handed to the
			// next listener or dial of the process.
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fd)
			if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				t.Fatal(err)
			}
			sa, err := syscall.Getsockname(fd)
			if err != nil {
				t.Fatal(err)
			}
			closed := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
			idle, _ := startServer(t, func(c *Conn) error { return nil }, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1))
			errs := make(chan error, 1)
			_, addr := startServer(t, func(c *Conn) error {
				r := c.Reader()
				r.Skip(r.Len())
				r.Release()
				d := Dialer{Server: idle, Timeout: 3 * time.Second}
				for i := range 50 {
					dc, err := d.DialContext(context.Background(), "tcp", closed)
					if err == nil {
						dc.Close()
						errs <- fmt.Errorf("dial %d of a closed port connected", i)
						return nil
					}
					if !errors.Is(err, syscall.ECONNREFUSED) {
						errs <- fmt.Errorf("dial %d of a closed port: %v; want ECONNREFUSED", i, err)
						return nil
					}
				}
				errs <- nil
				return nil
			}, WithBackend(be), WithDispatch(DispatchInline), WithPollers(1))
			cl := dialTCP(t, addr)
			if _, err := cl.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := testutil.Receive(t, errs, 20*time.Second, "the dials"); err != nil {
				t.Fatal(err)
			}
		})
	}
}
