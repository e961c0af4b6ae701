package netpoll

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// peerAddr is a connection's remote address in 20 bytes instead of a
// *net.TCPAddr (about 80 bytes with its IP slice): an idle connection
// pays for its state only. RemoteAddr builds the net.Addr on demand.
type peerAddr struct {
	ip   [16]byte
	port uint16
	kind uint8
}

const (
	addrNone uint8 = iota
	addrIPv4
	addrIPv6
	addrUnix
)

func (a *peerAddr) set(sa unix.Sockaddr) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		copy(a.ip[:4], sa.Addr[:])
		a.port, a.kind = uint16(sa.Port), addrIPv4
	case *unix.SockaddrInet6:
		a.ip = sa.Addr
		a.port, a.kind = uint16(sa.Port), addrIPv6
	case *unix.SockaddrUnix:
		a.kind = addrUnix
	}
}

func (a *peerAddr) netAddr() net.Addr {
	switch a.kind {
	case addrIPv4:
		return &net.TCPAddr{IP: net.IPv4(a.ip[0], a.ip[1], a.ip[2], a.ip[3]), Port: int(a.port)}
	case addrIPv6:
		ip := make(net.IP, 16)
		copy(ip, a.ip[:])
		return &net.TCPAddr{IP: ip, Port: int(a.port)}
	}
	return nil
}

// sockaddrToAddr converts a kernel address for network kind "tcp" or
// "unix".
func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: sa.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, 16)
		copy(ip, sa.Addr[:])
		a := &net.TCPAddr{IP: ip, Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// addrToSockaddr resolves a TCP address to a kernel address and family.
func tcpSockaddr(ap netip.AddrPort, zone uint32) (unix.Sockaddr, int) {
	ip := ap.Addr()
	if ip.Is4() || ip.Is4In6() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ip.Unmap().As4()}, unix.AF_INET
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ip.As16(), ZoneId: zone}, unix.AF_INET6
}

// isUnspecifiedAddr reports whether a listener's address is a wildcard,
// in which case each accepted connection's local address differs.
func isUnspecifiedAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && (ta.IP == nil || ta.IP.IsUnspecified())
}
