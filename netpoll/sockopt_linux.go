package netpoll

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Keep-alive defaults for accepted and dialed TCP sockets, the same as
// Go's net package (net.KeepAliveConfig defaults).
const (
	defaultKeepAliveIdle     = 15 * time.Second
	defaultKeepAliveInterval = 15 * time.Second
	defaultKeepAliveCount    = 9
)

// setTCPOptions applies TCP_NODELAY and keep-alive to a TCP socket.
// idle <= 0 means the default; Go's net does the same on every accepted
// and dialed socket, so benchmarks measure the poller and not Nagle.
func setTCPOptions(fd int, idle time.Duration) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if idle < 0 {
		return nil
	}
	if idle == 0 {
		idle = defaultKeepAliveIdle
	}
	secs := int((idle + time.Second - 1) / time.Second)
	interval := int(defaultKeepAliveInterval / time.Second)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, interval); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, defaultKeepAliveCount); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

func setReuseAddr(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

func setReusePort(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

func setIPv6Only(fd int, v bool) error {
	val := 0
	if v {
		val = 1
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, val); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// setLingerZero makes close send RST instead of FIN (tests use it to
// play a peer that resets).
func setLingerZero(fd int) error {
	l := unix.Linger{Onoff: 1, Linger: 0}
	if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &l); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}
