package netpoll

import "net"

// peerAddr is a connection's remote address in one word instead of a
// *net.TCPAddr (about 80 bytes with its IP slice): the kind, the port and
// an IPv4 address packed together. An IPv6 address is kept in the
// connection's extension (connExt.ip6, its zone in connExt.zone), which
// IPv4 connections do not allocate; so is a Unix-domain peer's name
// (connExt.unixPeer), but for the names of an unbound peer ("" or, on
// Linux, "@"), which the port bits tell (unixNone, unixAt). RemoteAddr
// builds the net.Addr on demand.
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

// What the port bits of a Unix-domain peer's address say of its name.
const (
	unixNone  = iota // ""
	unixAt           // "@"
	unixNamed        // in connExt.unixPeer
)

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
		// The zone as Go's net names it: the interface of the index
		// the kernel gave, or the name BackendStd's net.Conn gave.
		zone := zoneName(sa.zone)
		if zone == "" {
			zone = sa.ap.Addr().Zone()
		}
		c.updateExt(func(e *connExt) { e.ip6, e.zone = sa.ap.Addr().As16(), zone })
	case afUnix:
		// Kept, not asked of the kernel when wanted: Go's net reports
		// the peer's name after Close too, and its errors name it.
		switch sa.path {
		case "":
			c.raddr = packPeer(addrUnix, unixNone, [4]byte{})
		case "@":
			c.raddr = packPeer(addrUnix, unixAt, [4]byte{})
		default:
			c.raddr = packPeer(addrUnix, unixNamed, [4]byte{})
			c.updateExt(func(e *connExt) { e.unixPeer = sa.path })
		}
	}
}

// unixPeerName returns the name of c's Unix-domain peer (see setPeer).
func (c *Conn) unixPeerName() string {
	switch c.raddr.port() {
	case unixAt:
		return "@"
	case unixNamed:
		if e := c.ext.Load(); e != nil {
			return e.unixPeer
		}
	}
	return ""
}

// peerNetAddr returns the TCP remote address, or nil for other kinds.
// The address and its IP are one allocation (tcpAddr4, tcpAddr6):
// net/http's server builds a read's error, with this address in it,
// at the end of each request whose background read it aborts.
func (c *Conn) peerNetAddr() net.Addr {
	a := c.raddr
	switch a.kind() {
	case addrIPv4:
		// Four bytes, as Go's net gives for an IPv4 peer (net.IPv4
		// would give the 16-byte form: equal, but not DeepEqual).
		t := &tcpAddr4{ip: [4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}}
		t.a = net.TCPAddr{IP: t.ip[:], Port: a.port()}
		return &t.a
	case addrIPv6:
		t := new(tcpAddr6)
		var zone string
		if e := c.ext.Load(); e != nil {
			t.ip, zone = e.ip6, e.zone
		}
		t.a = net.TCPAddr{IP: t.ip[:], Port: a.port(), Zone: zone}
		return &t.a
	}
	return nil
}

// tcpAddr4 and tcpAddr6 hold a *net.TCPAddr with the bytes of its IP.
type (
	tcpAddr4 struct {
		a  net.TCPAddr
		ip [4]byte
	}
	tcpAddr6 struct {
		a  net.TCPAddr
		ip [16]byte
	}
)

// ownLocalAddrs reports whether the connections a listener at a
// accepts each have a local address of their own rather than a: a is a
// wildcard, or an IPv6 link-local address, whose zone a listener's
// address may lack (Go's net names none for its listener, the
// interface for each connection).
func ownLocalAddrs(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && (ta.IP == nil || ta.IP.IsUnspecified() || ta.IP.IsLinkLocalUnicast())
}
