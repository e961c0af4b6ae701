package netpoll

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestReview16cShutdownFromOnDisconnect pins what Shutdown's doc now
// says: called by an OnDisconnect hook, it waits for that hook too, so
// it returns only when its ctx ends, although every connection has
// closed (Go's http.Server.Shutdown, called by a ConnState hook for
// StateClosed, returns); called on a goroutine of its own from the
// hook, it returns nil once the hook has. Called by a handler, it
// waits for that handler's connection, busy while it runs, likewise.
// The doc said only that Shutdown waits for the hooks. It passes before
// and after: the code is unchanged.
func TestReview16cShutdownFromOnDisconnect(t *testing.T) {
	for _, be := range testBackends(true) {
		for _, where := range []string{"in the hook", "own goroutine", "in a handler"} {
			own := where == "own goroutine"
			t.Run(be.String()+"/"+where, func(t *testing.T) {
				testutil.CheckLeaks(t)
				var s *Server
				shut := make(chan error, 1)
				hook := func(*Conn, error) {
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					if own {
						go func() {
							defer cancel()
							shut <- s.Shutdown(ctx)
						}()
						return
					}
					defer cancel()
					shut <- s.Shutdown(ctx)
				}
				h, opts := echoHandler, []Option{WithBackend(be), WithOnDisconnect(hook)}
				if where == "in a handler" {
					h = func(c *Conn) error {
						r := c.Reader()
						r.Skip(r.Len())
						r.Release()
						ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
						defer cancel()
						shut <- s.Shutdown(ctx)
						return nil
					}
					opts = opts[:1]
				}
				var err error
				s, err = NewServer(h, opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				ln, err := s.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go s.Serve(ln)
				cl, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if where == "in a handler" {
					cl.Write([]byte("x"))
					defer cl.Close()
				} else {
					cl.Close() // the connection's end runs the hook
				}
				err = testutil.Receive(t, shut, 5*time.Second, "Shutdown's return")
				switch {
				case own && err != nil:
					t.Errorf("Shutdown on a goroutine of its own: %v, want nil", err)
				case !own && !errors.Is(err, context.DeadlineExceeded):
					t.Errorf("Shutdown %s: %v, want its ctx's end (it waits for its caller)", where, err)
				}
			})
		}
	}
}
