package netpoll

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDocsDialerKeepAlive checks dialer.go's KeepAlive ("the TCP
// keep-alive idle time; 0: 15 s, < 0: off") on the dialed socket.
func TestDocsDialerKeepAlive(t *testing.T) {
	addr := goServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	for _, tc := range []struct {
		ka       time.Duration
		on, idle int
	}{{0, 1, 15}, {40 * time.Second, 1, 40}, {-1, 0, 0}} {
		d := Dialer{Timeout: 3 * time.Second, KeepAlive: tc.ka}
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		on := sockoptOf(t, c, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		idle := tc.idle
		if on != 0 {
			idle = sockoptOf(t, c, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		}
		c.Close()
		if (on != 0) != (tc.on != 0) || idle != tc.idle {
			t.Errorf("KeepAlive %v: SO_KEEPALIVE=%d TCP_KEEPIDLE=%d s, want %d and %d s", tc.ka, on, idle, tc.on, tc.idle)
		}
	}
}

// sockoptOf reads an integer socket option of c's socket.
func sockoptOf(t *testing.T, c *Conn, level, opt int) int {
	t.Helper()
	var v int
	var err error
	get := func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), level, opt) }
	if c.sock != nil {
		rc, e := c.sock.nc.(syscall.Conn).SyscallConn()
		if e != nil {
			t.Fatal(e)
		}
		if e := rc.Control(get); e != nil {
			t.Fatal(e)
		}
	} else {
		get(uintptr(c.fd))
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}
