package netpoll

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReviewZeroConnLeavesFD0: a zero Conn's fd field is 0, and its
// socket calls acted on descriptor 0: with a socket there (a program
// started by inetd or systemd socket activation), CloseWrite on a zero
// Conn shut that socket down and its peer read EOF.
func TestReviewZeroConnLeavesFD0(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cl, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	f, err := sc.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup2(int(f.Fd()), 0); err != nil {
		t.Fatal(err)
	}
	defer func() {
		unix.Dup2(saved, 0)
		syscall.Close(saved)
	}()
	var c Conn
	c.CloseWrite()
	cl.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := cl.Read(make([]byte, 1))
	if err == io.EOF {
		t.Fatalf("the peer of the socket at fd 0 read EOF after a zero Conn's CloseWrite")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("peer read = %d, %v; want a timeout (nothing sent, nothing shut)", n, err)
	}
}
