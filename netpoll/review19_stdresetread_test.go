package netpoll

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestReadAfterResetReportedToWrite: the peer sends bytes and then
// resets the connection; a Write reports the reset (ECONNRESET), and a
// Read after it still returns the bytes received before the reset, then
// io.EOF, as Go's does (the kernel keeps what it received, and reports
// the reset to one call). Before, under BackendStd the Write's error
// marked the connection broken and the Read returned io.EOF at once:
// the bytes, still in the socket, were lost. (The native backends read
// them ahead, before the reset came.)
func TestReadAfterResetReportedToWrite(t *testing.T) {
	seq := func(t *testing.T, c, peer net.Conn) (werr error, got []byte, rerr error) {
		t.Helper()
		if _, err := peer.Write(make([]byte, 2000)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		peer.(*net.TCPConn).SetLinger(0)
		peer.Close()
		time.Sleep(30 * time.Millisecond)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, werr = c.Write([]byte("x"))
		got, rerr = io.ReadAll(c)
		return werr, got, rerr
	}
	gc, cl := goTCPPair(t)
	werr, got, rerr := seq(t, gc, cl)
	if !errors.Is(werr, syscall.ECONNRESET) || len(got) != 2000 || rerr != nil {
		t.Fatalf("Go's: Write %v, then Read %d bytes and %v; want ECONNRESET, 2000 bytes and io.EOF (the test's premise)", werr, len(got), rerr)
	}
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			cl := dialTCP(t, addr)
			c := recvConn(t, conns)
			defer c.Close()
			werr, got, rerr := seq(t, c, cl)
			if !errors.Is(werr, syscall.ECONNRESET) {
				t.Errorf("Write after the reset = %v, want ECONNRESET as Go's", werr)
			}
			if len(got) != 2000 || rerr != nil {
				t.Errorf("Read after it: %d bytes and %v, want the 2000 bytes sent before the reset, then io.EOF, as Go's", len(got), rerr)
			}
		})
	}
}
