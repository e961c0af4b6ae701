package netpoll

import (
	"errors"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// mptcpInfo is MPTCP_INFO, the SOL_MPTCP option that fails on a socket
// not (or no longer) speaking MPTCP: x/sys names the level, not it.
const mptcpInfo = 1

// mptcpSupport tells, once per process, what Go's net tells before it
// reports MultipathTCP (initMPTCPavailable): whether the kernel makes
// MPTCP sockets at all, and whether it has SOL_MPTCP (5.16 on), whose
// MPTCP_INFO also tells a connection that fell back to plain TCP.
var mptcpSupport = sync.OnceValues(func() (available, solMPTCP bool) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_MPTCP)
	if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EINVAL) {
		return false, false
	}
	if err == nil {
		unix.Close(fd)
	}
	// Any other error (a full descriptor table, say) does not rule MPTCP
	// out, as Go's net takes it.
	return true, kernelAtLeast(5, 16)
})

// sysMultipathTCP reports whether the socket fd speaks MPTCP, as Go's
// net's isUsingMultipathTCP does on Linux: from kernel 5.16 on, unless
// MPTCP_INFO says it fell back to TCP; before, from SO_PROTOCOL, which
// cannot tell a fallback.
func sysMultipathTCP(fd int) bool {
	available, sol := mptcpSupport()
	if !available {
		return false
	}
	if sol {
		_, err := unix.GetsockoptInt(fd, unix.SOL_MPTCP, mptcpInfo)
		// EOPNOTSUPP on IPv4, ENOPROTOOPT on IPv6: plain TCP.
		return err != unix.EOPNOTSUPP && err != unix.ENOPROTOOPT
	}
	proto, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	return proto == unix.IPPROTO_MPTCP
}

// kernelAtLeast reports whether the running kernel's release is major.minor
// or later; false when uname's release does not parse.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	return releaseAtLeast(unix.ByteSliceToString(u.Release[:]), major, minor)
}

// releaseAtLeast compares a kernel release ("6.18.4-generic") with
// major.minor.
func releaseAtLeast(release string, major, minor int) bool {
	fields := strings.FieldsFunc(release, func(r rune) bool { return r < '0' || r > '9' })
	if len(fields) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(fields[0])
	mi, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
