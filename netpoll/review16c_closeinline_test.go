package netpoll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestReview16cCloseFromInlineHandler: Server.Close called by a
// DispatchInline handler, or by an OnConnect hook (which runs on the
// loop too), returns, as Go's http.Server.Close does from a handler;
// the server then stops once the caller has returned: Serve returns
// ErrServerClosed, the peer sees its connection end, and the pollers'
// goroutines and descriptors go (the leak check). With two pollers, two
// handlers that close the Server at once both return. Before, Close
// waited for the pollers to stop, among them the one whose loop ran
// the caller: it never returned, and that poller and its connections
// stalled for good.
func TestReview16cCloseFromInlineHandler(t *testing.T) {
	for _, be := range testBackends(false) {
		for _, where := range []string{"handler", "onconnect", "two pollers"} {
			t.Run(fmt.Sprintf("%v/%s", be, where), func(t *testing.T) {
				testutil.CheckLeaks(t)
				n := 1
				if where == "two pollers" {
					n = 2
				}
				var s *Server
				closed := make(chan error, n)
				var arrived sync.WaitGroup
				arrived.Add(n)
				closeServer := func() {
					if n > 1 {
						// Both handlers close it at once, each on its
						// own poller's loop.
						arrived.Done()
						both := make(chan struct{})
						go func() { arrived.Wait(); close(both) }()
						testutil.Recv(both, 5*time.Second)
					}
					closed <- s.Close()
				}
				opts := []Option{WithBackend(be), WithDispatch(DispatchInline), WithPollers(n)}
				if where == "onconnect" {
					opts = append(opts, WithOnConnect(func(*Conn) { closeServer() }))
				}
				var err error
				s, err = NewServer(func(c *Conn) error {
					r := c.Reader()
					r.Skip(r.Len())
					r.Release()
					if where != "onconnect" {
						closeServer()
					}
					return nil
				}, opts...)
				if err != nil {
					t.Fatal(err)
				}
				ln, err := s.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					s.Close()
					t.Fatal(err)
				}
				served := make(chan error, 1)
				go func() { served <- s.Serve(ln) }()
				var cls []net.Conn
				for range n {
					cl, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					defer cl.Close()
					cl.Write([]byte("x"))
					cls = append(cls, cl)
				}
				for i := range n {
					if err := testutil.Receive(t, closed, 5*time.Second, fmt.Sprintf("Close %d from the %s", i, where)); err != nil {
						t.Errorf("Close from the %s: %v", where, err)
					}
				}
				if err := testutil.Receive(t, served, 5*time.Second, "Serve's return"); !errors.Is(err, ErrServerClosed) {
					t.Errorf("Serve: %v, want ErrServerClosed", err)
				}
				for _, cl := range cls {
					cl.SetReadDeadline(time.Now().Add(5 * time.Second))
					if _, err := cl.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
						t.Errorf("peer's read after Close: %v, want its connection ended", err)
					}
				}
				// A Close from outside now waits for the pollers.
				done := make(chan error, 1)
				go func() { done <- s.Close() }()
				testutil.Receive(t, done, 5*time.Second, "a later Close")
			})
		}
	}
}
