package netpoll

import "net"

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
func (c *Conn) setPeer(sa sockaddr) {
	switch sa.family() {
	case afInet4:
		c.raddr = packPeer(addrIPv4, int(sa.ap.Port()), sa.ap.Addr().As4())
	case afInet6:
		c.raddr = packPeer(addrIPv6, int(sa.ap.Port()), [4]byte{})
		c.updateExt(func(e *connExt) { e.ip6 = sa.ap.Addr().As16() })
	case afUnix:
		c.raddr = packPeer(addrUnix, 0, [4]byte{})
	}
}

// peerNetAddr returns the TCP remote address, or nil for other kinds.
func (c *Conn) peerNetAddr() net.Addr {
	a := c.raddr
	switch a.kind() {
	case addrIPv4:
		// Four bytes, as Go's net gives for an IPv4 peer (net.IPv4
		// would give the 16-byte form: equal, but not DeepEqual).
		return &net.TCPAddr{IP: net.IP{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}, Port: a.port()}
	case addrIPv6:
		ip := make(net.IP, 16)
		if e := c.ext.Load(); e != nil {
			copy(ip, e.ip6[:])
		}
		return &net.TCPAddr{IP: ip, Port: a.port()}
	}
	return nil
}

// isUnspecifiedAddr reports whether a listener's address is a wildcard,
// in which case each accepted connection's local address differs.
func isUnspecifiedAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && (ta.IP == nil || ta.IP.IsUnspecified())
}
