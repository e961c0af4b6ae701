package netpoll

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// setTCPOptions applies TCP_NODELAY and keep-alive to a TCP socket.
// idle <= 0 means the default; Go's net does the same on every accepted
// and dialed socket, so benchmarks measure the poller and not Nagle.
func setTCPOptions(fd int, idle time.Duration) error {
	if err := setNoDelay(fd); err != nil {
		return err
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

// sysSetKeepAliveIdle, sysSetKeepAliveInterval and sysSetKeepAliveCount
// set TCP_KEEPIDLE, TCP_KEEPINTVL (seconds) and TCP_KEEPCNT.
func sysSetKeepAliveIdle(fd, secs int) error {
	return setsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs)
}

func sysSetKeepAliveInterval(fd, secs int) error {
	return setsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs)
}

func sysSetKeepAliveCount(fd, n int) error {
	return setsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, n)
}

func setReusePort(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}
