package netpoll

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestReview16aUnixCloseUnreadEnds pins what Conn.Close's doc says of a
// Unix socket closed with input nobody read: on the epoll and io_uring
// backends the peer sees the end, where Go's (and BackendStd's, Go's
// net.Conn underneath) sees ECONNRESET. The kernel resets a Unix
// stream's peer only for input still in the closing socket's queue, and
// the poller has read it ahead into the Conn; SO_LINGER, which makes a
// TCP close a reset, does nothing there.
func TestReview16aUnixCloseUnreadEnds(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux's Unix stream sockets")
	}
	dir := t.TempDir()
	closeUnread := func(t *testing.T, addr string, accepted <-chan net.Conn) error {
		pc, err := net.DialTimeout("unix", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		sc, ok := testutil.Recv(accepted, 5*time.Second)
		if !ok || sc == nil {
			t.Fatal("no connection accepted")
		}
		pc.SetDeadline(time.Now().Add(5 * time.Second))
		sc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := pc.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(sc, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.Write([]byte("unread")); err != nil {
			t.Fatal(err)
		}
		if c, ok := sc.(*Conn); ok && c.sock == nil {
			// Read ahead into the Conn by the poller.
			if !testutil.WaitFor(5*time.Second, func() bool { return c.Reader().Len() == len("unread") }) {
				t.Fatalf("the poller did not read the input ahead: %d bytes buffered", c.Reader().Len())
			}
		} else {
			time.Sleep(50 * time.Millisecond) // in the socket
		}
		sc.Close()
		_, err = pc.Read(make([]byte, 1))
		return err
	}
	gl, err := net.Listen("unix", filepath.Join(dir, "go"))
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	gc := make(chan net.Conn, 1)
	go func() {
		if c, err := gl.Accept(); err == nil {
			gc <- c
		}
	}()
	if err := closeUnread(t, gl.Addr().String(), gc); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Go's: the peer's read after a Close with unread input: %v; want ECONNRESET", err)
	}
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			conns := make(chan net.Conn, 1)
			s, err := NewServer(nil, WithBackend(be), WithOnConnect(func(c *Conn) { conns <- c }))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := s.Listen("unix", filepath.Join(dir, be.String()))
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(ln)
			err = closeUnread(t, ln.Addr().String(), conns)
			if be == BackendStd {
				// Go's net.Conn underneath, whose socket holds the input.
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("the peer's read after a Close with unread input: %v; want ECONNRESET, as Go's", err)
				}
			} else if err != io.EOF {
				t.Errorf("the peer's read after a Close with unread input: %v; want io.EOF, as Close's doc says", err)
			}
		})
	}
}
