package reliability

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// repairClose makes c vanish without a FIN or RST: TCP_REPAIR mode
// detaches the socket from the protocol, so close sends nothing, as if
// the peer machine lost power. It needs CAP_NET_ADMIN.
func repairClose(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, 19 /* TCP_REPAIR */, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return os.NewSyscallError("setsockopt TCP_REPAIR", serr)
	}
	return c.Close()
}

// TestHalfOpenPeer has 100 peers vanish without FIN (TCP_REPAIR close).
// The server cannot tell; its idle timeout must reclaim them all.
func TestHalfOpenPeer(t *testing.T) {
	checkLeaks(t)
	const conns, idle = 100, time.Second
	n := startNative(t, echoHandler, netpoll.WithIdleTimeout(idle))
	for i := range conns {
		c := dial(t, n.addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte("hi"))
		if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
			t.Fatal(err)
		}
		if err := repairClose(c); err != nil {
			c.Close()
			if i == 0 && errors.Is(err, syscall.EPERM) {
				t.Skip("TCP_REPAIR needs CAP_NET_ADMIN:", err)
			}
			t.Fatal(err)
		}
	}
	vanished := time.Now()
	if live := n.live(); live != conns {
		t.Fatalf("server holds %d conns right after %d peers vanished silently, want all", live, conns)
	}
	waitReclaimed(t, n, conns, func(err error) bool { return errors.Is(err, netpoll.ErrIdleTimeout) })
	t.Logf("%d half-open conns reclaimed %v after their peers vanished (idle timeout %v)",
		conns, time.Since(vanished).Round(time.Millisecond), idle)
}
