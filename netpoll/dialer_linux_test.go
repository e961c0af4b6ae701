package netpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestDialEcho(t *testing.T) {
	skipStd(t, "socket options read through the descriptor")
	_, addr := startServer(t, echoHandler)
	c, err := Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := c.Reader().Next(4)
	if err != nil || string(b) != "ping" {
		t.Fatalf("Next = %q, %v", b, err)
	}
	c.Reader().Release()
	if c.RemoteAddr().String() != addr {
		t.Errorf("RemoteAddr = %v, want %v", c.RemoteAddr(), addr)
	}
	nodelay, _ := unix.GetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
	keepalive, _ := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
	idle, _ := unix.GetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	if nodelay != 1 || keepalive != 1 || idle != 15 {
		t.Errorf("dialed socket: nodelay=%d keepalive=%d idle=%d", nodelay, keepalive, idle)
	}
}

func TestDialRefused(t *testing.T) {
	// A port that was just free: bind, note, close.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Dial("tcp", addr)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial = %v; want ECONNREFUSED", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("error %v is not a dial *net.OpError", err)
	}
}

func TestDialTimeout(t *testing.T) {
	addr := unresponsiveAddr(t)
	d := Dialer{Timeout: 100 * time.Millisecond}
	start := time.Now()
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err == nil {
		c.Close()
		t.Skip("kernel completed the handshake despite the full queue")
	}
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("DialContext = %v; want Go's dial timeout (errors.Is context.DeadlineExceeded, not os.ErrDeadlineExceeded)", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("%v is not a net.Error timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestDialCancel(t *testing.T) {
	addr := unresponsiveAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	var d Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		t.Skip("kernel completed the handshake despite the full queue")
	}
	if !errors.Is(err, context.Canceled) || !strings.HasSuffix(err.Error(), ": operation was canceled") {
		t.Fatalf("DialContext = %v; want Go's \"operation was canceled\" (errors.Is context.Canceled)", err)
	}
}

func TestDialUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	c, err := Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("unix!"))
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "unix!" {
		t.Fatalf("ReadAll = %q, %v", got, err)
	}
	if ra := c.RemoteAddr(); ra == nil || ra.Network() != "unix" {
		t.Errorf("RemoteAddr = %v", ra)
	}
}
