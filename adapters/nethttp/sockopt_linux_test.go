package nethttp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestConnSockoptsOnSocket: SetNoDelay and SetKeepAlive on a connection
// from the adapter's listener change the options of its socket, as read
// with getsockopt on the descriptor SyscallConn's Control gives.
func TestConnSockoptsOnSocket(t *testing.T) {
	for _, b := range sockoptBackends() {
		t.Run(b.String(), func(t *testing.T) {
			c, _ := acceptedTCP(t, b)
			o := c.(tcpOptions)
			rc, err := o.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			get := func(level, opt int) int {
				t.Helper()
				var v int
				var gerr error
				if err := rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil || gerr != nil {
					t.Fatalf("Control: %v, getsockopt: %v", err, gerr)
				}
				return v
			}
			for _, on := range []bool{false, true} {
				want := 0
				if on {
					want = 1
				}
				if err := o.SetNoDelay(on); err != nil {
					t.Fatal(err)
				}
				if got := get(unix.IPPROTO_TCP, unix.TCP_NODELAY); got != want {
					t.Errorf("TCP_NODELAY %d after SetNoDelay(%v)", got, on)
				}
				if err := o.SetKeepAlive(on); err != nil {
					t.Fatal(err)
				}
				if got := get(unix.SOL_SOCKET, unix.SO_KEEPALIVE); got != want {
					t.Errorf("SO_KEEPALIVE %d after SetKeepAlive(%v)", got, on)
				}
			}
		})
	}
}
