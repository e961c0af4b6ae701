package netpoll

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// rawListen returns the address of a TCP socket listening on 127.0.0.1
// with the given backlog, from which nothing ever accepts: the kernel
// completes handshakes into its queue until the queue is full. Unlike a
// net.Listener it adds nothing to the Go heap, and its backlog is not
// the system's maximum. It is closed when t ends. Where this build has no
// sockets of its own (the sys layer's stubs) it skips t.
func rawListen(t testing.TB, backlog int) string {
	t.Helper()
	loopback := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)
	return rawListenAt(t, loopback, backlog).String()
}

// rawListenAt is rawListen on the IPv4 address ap (port 0: any free
// port); it returns the address bound.
func rawListenAt(t testing.TB, ap netip.AddrPort, backlog int) netip.AddrPort {
	t.Helper()
	fd, err := sysSocket(afInet4)
	if errors.Is(err, ErrNoNativeBackend) {
		t.Skipf("raw listening socket: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sysClose(fd) })
	if err := sysBind(fd, tcpSockaddr(ap, 0)); err != nil {
		t.Fatalf("bind %v: %v", ap, err)
	}
	if err := sysListen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, err := sysGetsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.ap
}

// unresponsiveAddr returns a 127.0.0.1 address whose accept queue is
// full, so that further SYNs are dropped and connects hang.
func unresponsiveAddr(t *testing.T) string {
	addr := rawListen(t, 0)
	fillQueue(t, addr)
	return addr
}

// fillQueue connects to the raw listener at addr until a connect times
// out, and reports whether one did: its queue is then full and connects
// to it hang. The connections close when t ends.
func fillQueue(t *testing.T, addr string) bool {
	t.Helper()
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return true
		}
		t.Cleanup(func() { c.Close() })
	}
	return false
}
