package nethttp

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestDocsAcceptedConn checks doc.go's "How it works": the net.Conn that
// Accept returns embeds the *netpoll.Conn (it is not that type: a wrapper
// keeps parked conns off the socket, see conn.go), whose nocopy Reader
// and Writer remain reachable by type assertion; its io.ReaderFrom is
// netpoll's, which sends a file with sendfile(2) on the native backends
// (Stats.Sendfiles moves), not a copy through a pooled buffer. The
// package doc said "The net.Conn returned is the *netpoll.Conn itself
// ... plus an io.ReaderFrom that copies through a pooled buffer".
func TestDocsAcceptedConn(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "body"))
	if err != nil {
		t.Fatal(err)
	}
	const size = 256 << 10
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, b := range sockoptBackends() {
		t.Run(b.String(), func(t *testing.T) {
			ln, err := Listen("tcp", "127.0.0.1:0", netpoll.WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cl, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, ok := c.(interface {
				Reader() netpoll.Reader
				Writer() netpoll.Writer
			}); !ok {
				t.Errorf("accepted %T: no Reader and Writer by type assertion", c)
			}
			rf, ok := c.(io.ReaderFrom)
			if !ok {
				t.Fatalf("accepted %T is no io.ReaderFrom", c)
			}
			f, err := os.Open(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got := make(chan int64, 1)
			go func() {
				cl.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _ := io.CopyN(io.Discard, cl, size)
				got <- n
			}()
			s0 := Server(ln).Stats().Sendfiles
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if n, err := rf.ReadFrom(f); n != size || err != nil {
				t.Fatalf("ReadFrom(file) = %d, %v", n, err)
			}
			if n := <-got; n != size {
				t.Fatalf("peer got %d of %d bytes", n, size)
			}
			if sf := Server(ln).Stats().Sendfiles - s0; b != netpoll.BackendStd && sf == 0 {
				t.Errorf("ReadFrom(*os.File) on %v: Stats.Sendfiles did not move, want sendfile(2)", b)
			}
		})
	}
}
