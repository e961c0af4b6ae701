package netpoll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// shutdownVariants are the configurations the Shutdown tests below run
// on: the default (UPOLL's), BackendStd, and each native backend with
// one poller under DispatchInline, where a handler that sleeps keeps
// the poller from reading any other connection, with a blocking and a
// runtime wait (under BackendUring the first keeps input in the socket
// until the loop enters the ring, the second lets the kernel complete
// the receive meanwhile, so that the input waits in the ring).
func shutdownVariants() []struct {
	name string
	opts []Option
} {
	vs := []struct {
		name string
		opts []Option
	}{{"default", nil}}
	for _, b := range testBackends(true) {
		if b == BackendStd {
			vs = append(vs, struct {
				name string
				opts []Option
			}{"std", []Option{WithBackend(b)}})
			continue
		}
		for _, w := range []WaitStrategy{WaitBlock, WaitRuntime} {
			vs = append(vs, struct {
				name string
				opts []Option
			}{b.String() + "/inline/" + w.String(),
				[]Option{WithBackend(b), WithDispatch(DispatchInline), WithPollers(1), WithWait(w)}})
		}
	}
	return vs
}

// TestShutdownAnswersQueuedInput: a request that has reached the
// server's socket when Shutdown looks at its connection is answered,
// and the connection closes after the answer. Connection a's handler
// sleeps 300 ms; meanwhile a fresh connection sends its first request
// and a warm one (one exchange done: under BackendUring its input comes
// by the receive) its second, and Shutdown begins. Under DispatchInline
// the sleeping handler holds the only poller, so both requests wait
// unread in the kernel (or the ring) while Shutdown looks: it used to
// close both connections as idle, their requests unanswered.
func TestShutdownAnswersQueuedInput(t *testing.T) {
	for _, v := range shutdownVariants() {
		t.Run(v.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			slow := make(chan struct{}, 1)
			s, addr := startServer(t, func(c *Conn) error {
				r, w := c.Reader(), c.Writer()
				b, err := r.Next(r.Len())
				if err != nil {
					return err
				}
				if bytes.IndexByte(b, 's') >= 0 {
					select {
					case slow <- struct{}{}:
					default:
					}
					time.Sleep(300 * time.Millisecond)
				}
				if _, err := w.WriteBinary(b); err != nil {
					return err
				}
				if err := r.Release(); err != nil {
					return err
				}
				return w.Flush()
			}, v.opts...)
			a, fresh, warm := dialTCP(t, addr), dialTCP(t, addr), dialTCP(t, addr)
			warm.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := warm.Write([]byte("w")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(warm, make([]byte, 1)); err != nil {
				t.Fatalf("warm-up exchange: %v", err)
			}
			// Every connection accepted: one left in the listen backlog
			// is reset when Shutdown closes the listener.
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().TotalConns == 3 }) {
				t.Fatalf("connections accepted = %d; want 3", s.Stats().TotalConns)
			}
			if _, err := a.Write([]byte("s")); err != nil {
				t.Fatal(err)
			}
			testutil.Receive(t, slow, 5*time.Second, "slow handler start")
			for _, c := range []*net.TCPConn{fresh, warm} {
				if _, err := c.Write([]byte("q")); err != nil {
					t.Fatal(err)
				}
			}
			// On loopback a write returns with its bytes in the peer's
			// receive queue; a moment more for the ring's task work.
			time.Sleep(20 * time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown = %v", err)
			}
			for _, tc := range []struct {
				name string
				c    *net.TCPConn
				want string
			}{{"slow", a, "s"}, {"fresh", fresh, "q"}, {"warm", warm, "q"}} {
				tc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				got, err := io.ReadAll(tc.c)
				if err != nil || string(got) != tc.want {
					t.Errorf("%s connection after Shutdown: read %q, %v; want %q, then EOF", tc.name, got, err, tc.want)
				}
			}
		})
	}
}

// TestShutdownDeadlineEndlessSender: a peer that never stops sending
// keeps its connection busy (its input never all read), and Shutdown
// returns ctx.Err() at its deadline all the same, not later; Close then
// ends the connection.
func TestShutdownDeadlineEndlessSender(t *testing.T) {
	for _, v := range shutdownVariants() {
		t.Run(v.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, addr := startServer(t, func(c *Conn) error {
				time.Sleep(time.Millisecond) // slower than the sender
				r := c.Reader()
				if _, err := r.Next(r.Len()); err != nil {
					return err
				}
				return r.Release()
			}, v.opts...)
			cl := dialTCP(t, addr)
			sent := make(chan error, 1)
			go func() {
				chunk := make([]byte, 64<<10)
				cl.SetWriteDeadline(time.Now().Add(10 * time.Second))
				for {
					if _, err := cl.Write(chunk); err != nil {
						sent <- err
						return
					}
				}
			}()
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BytesIn >= 1<<20 }) {
				t.Fatalf("server read %d bytes; want the flood under way", s.Stats().BytesIn)
			}
			const limit = 200 * time.Millisecond
			ctx, cancel := context.WithTimeout(context.Background(), limit)
			defer cancel()
			start := time.Now()
			err := s.Shutdown(ctx)
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || took > limit+time.Second {
				t.Errorf("Shutdown = %v after %v; want %v at its deadline (%v)", err, took, context.DeadlineExceeded, limit)
			}
			s.Close()
			if err := testutil.Receive(t, sent, 15*time.Second, "the sender's end"); err == nil {
				t.Error("sender stopped without an error")
			}
			cl.Close()
		})
	}
}
