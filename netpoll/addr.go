package netpoll

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// peerAddr is a connection's remote address in one word instead of a
// *net.TCPAddr (about 80 bytes with its IP slice): the kind, the port and
// an IPv4 address packed together. An IPv6 address is kept in the
// connection's extension (connExt.ip6), which IPv4 and unix connections
// do not allocate. RemoteAddr builds the net.Addr on demand.
type peerAddr uint64

const (
	addrNone uint8 = iota
	addrIPv4
	addrIPv6
	addrUnix
)

func packPeer(kind uint8, port int, ip4 [4]byte) peerAddr {
	return peerAddr(kind)<<56 | peerAddr(uint16(port))<<32 |
		peerAddr(ip4[0])<<24 | peerAddr(ip4[1])<<16 | peerAddr(ip4[2])<<8 | peerAddr(ip4[3])
}

func (a peerAddr) kind() uint8 { return uint8(a >> 56) }
func (a peerAddr) port() int   { return int(uint16(a >> 32)) }

// setPeer records sa as c's remote address. It runs before c is
// published to other goroutines.
func (c *Conn) setPeer(sa unix.Sockaddr) {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		c.raddr = packPeer(addrIPv4, sa.Port, sa.Addr)
	case *unix.SockaddrInet6:
		c.raddr = packPeer(addrIPv6, sa.Port, [4]byte{})
		c.updateExt(func(e *connExt) { e.ip6 = sa.Addr })
	case *unix.SockaddrUnix:
		c.raddr = packPeer(addrUnix, 0, [4]byte{})
	}
}

// peerNetAddr returns the TCP remote address, or nil for other kinds.
func (c *Conn) peerNetAddr() net.Addr {
	a := c.raddr
	switch a.kind() {
	case addrIPv4:
		return &net.TCPAddr{IP: net.IPv4(byte(a>>24), byte(a>>16), byte(a>>8), byte(a)), Port: a.port()}
	case addrIPv6:
		ip := make(net.IP, 16)
		if e := c.ext.Load(); e != nil {
			copy(ip, e.ip6[:])
		}
		return &net.TCPAddr{IP: ip, Port: a.port()}
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

// tcpSockaddr converts a TCP address and IPv6 zone index to a kernel
// address and its family; an IPv4-mapped address becomes IPv4.
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
