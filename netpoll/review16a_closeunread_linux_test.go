package netpoll

import (
	"errors"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestReview16aCloseUnreadResets: a Conn used as a net.Conn that is
// closed with input nobody read resets the connection, as Go's Close
// does (Conn.Close's doc), also when that input is in the io_uring
// backend's hands rather than the socket's: taken by the multishot
// receive, its completion not yet read into the Conn. The poller is
// held in another connection's read meanwhile (testHookRead), so the
// input waits there when Close comes. On epoll the input waits in the
// socket, and the kernel resets the connection at close(2).
func TestReview16aCloseUnreadResets(t *testing.T) {
	skipStd(t, "the poller's read is the epoll and io_uring backends'")
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			_, addr, conns := startAccept(t, WithBackend(be), WithPollers(1))
			ca := dialTCP(t, addr)
			sa := recvConn(t, conns)
			ca.SetDeadline(time.Now().Add(10 * time.Second))
			sa.SetDeadline(time.Now().Add(10 * time.Second))
			// A first exchange: under io_uring the receive is armed
			// after the connection's first read.
			if _, err := ca.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(sa, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // the loop submits the receive

			held, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			hook := func(c *Conn, m int) {
				if c != sa && m > 0 {
					once.Do(func() { close(held); <-release })
				}
			}
			testHookRead.Store(&hook)
			defer testHookRead.Store(nil)
			var releaseOnce sync.Once
			unblock := func() { releaseOnce.Do(func() { close(release) }) }
			defer unblock()
			cb := dialTCP(t, addr)
			recvConn(t, conns)
			if _, err := cb.Write([]byte("b")); err != nil {
				t.Fatal(err)
			}
			testutil.Receive(t, held, 5*time.Second, "the poller's read of the other connection")

			if _, err := ca.Write([]byte("unread")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // in the socket, or taken by the receive
			if err := sa.Close(); err != nil {
				t.Fatal(err)
			}
			// Released before the peer looks: a single-issuer ring
			// (DispatchInline, WaitBlock) cancels the closed socket's
			// requests in its poller's next io_uring_enter, and they
			// hold the socket open until then.
			unblock()
			_, err := ca.Read(make([]byte, 1))
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the peer's read after a Close with unread input: %v; want ECONNRESET, as from Go's Close", err)
			}
		})
	}
}
