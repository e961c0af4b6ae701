package netpoll

import (
	"net"
	"net/netip"
	"strconv"
)

// sockaddr is a socket address as the sys layer takes and returns it,
// in neutral terms (each OS's sys file converts): an IP endpoint with
// its IPv6 zone index, or a unix socket path.
type sockaddr struct {
	ap   netip.AddrPort // IP endpoint; invalid for a unix socket
	zone uint32         // IPv6 zone (interface index)
	path string         // unix socket path
	unix bool
}

// Address families of sysSocket, in neutral terms.
const (
	afInet4 = iota + 1
	afInet6
	afUnix
)

// family returns the address family of sa.
func (sa sockaddr) family() int {
	switch {
	case sa.unix:
		return afUnix
	case sa.ap.Addr().Is4():
		return afInet4
	}
	return afInet6
}

// tcpSockaddr converts a TCP address and IPv6 zone index; an
// IPv4-mapped address becomes IPv4.
func tcpSockaddr(ap netip.AddrPort, zone uint32) sockaddr {
	ip := ap.Addr()
	if ip.Is4() || ip.Is4In6() {
		return sockaddr{ap: netip.AddrPortFrom(ip.Unmap(), ap.Port())}
	}
	return sockaddr{ap: ap, zone: zone}
}

// zoneIndex is the interface index an IPv6 zone names (an interface
// name or a number), as Go's net resolves it; 0 for none or unknown.
func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	return 0
}

// unixSockaddr is the address of a unix socket at path.
func unixSockaddr(path string) sockaddr { return sockaddr{path: path, unix: true} }

// sockaddrToAddr converts a kernel address for network kind "tcp" or
// "unix".
func sockaddrToAddr(sa sockaddr) net.Addr {
	if sa.unix {
		return &net.UnixAddr{Name: sa.path, Net: "unix"}
	}
	ip := sa.ap.Addr()
	if ip.Is4() {
		b := ip.As4()
		// Four bytes, as Go's net gives (net.IPv4 gives sixteen).
		return &net.TCPAddr{IP: net.IP(b[:]), Port: int(sa.ap.Port())}
	}
	b := ip.As16()
	return &net.TCPAddr{IP: net.IP(b[:]), Port: int(sa.ap.Port()), Zone: zoneName(sa.zone)}
}

// zoneName is the IPv6 zone that interface index i names, as Go's net
// names it: "" for 0, the interface's name, or i in decimal when no
// interface has that index.
func zoneName(i uint32) string {
	if i == 0 {
		return ""
	}
	if ifi, err := net.InterfaceByIndex(int(i)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(i), 10)
}
