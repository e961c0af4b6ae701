package netpoll

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/upoll/upoll/internal/testutil"
)

// addrFree is err's text with c's addresses named L and R, to compare
// errors of different connections.
func addrFree(c net.Conn, err error) string {
	s := fmt.Sprint(err)
	if a := c.LocalAddr(); a != nil {
		s = strings.ReplaceAll(s, a.String(), "L")
	}
	if a := c.RemoteAddr(); a != nil {
		s = strings.ReplaceAll(s, a.String(), "R")
	}
	return s
}

// TestReview15aHalfCloseAfterResetAsGo: on a connection whose peer
// reset it, CloseRead and CloseWrite fail as Go's do, with one "close"
// *net.OpError around shutdown's error, and a failed CloseWrite leaves
// the writing side as it was: the next Write reports the reset, and
// CloseWrite tries again, as on Go's *net.TCPConn.
func TestReview15aHalfCloseAfterResetAsGo(t *testing.T) {
	testutil.CheckLeaks(t)
	run := func(c tcpLike, peer *net.TCPConn) []string {
		resetBy(peer)
		got := []string{addrFree(c, c.CloseRead()), addrFree(c, c.CloseWrite())}
		n, err := c.Write([]byte("x"))
		got = append(got, fmt.Sprint(n, " ", addrFree(c, err)))
		return append(got, addrFree(c, c.CloseWrite()))
	}
	asGoTCP(t, run)
}

// TestCloseWriteAgainAfterResetAsGo: a CloseWrite made again after the
// writing side was shut reports what shutdown says of the socket now, as
// Go's, which shuts it down again: nil while the connection stands,
// ENOTCONN once the peer has reset it.
func TestCloseWriteAgainAfterResetAsGo(t *testing.T) {
	testutil.CheckLeaks(t)
	run := func(c tcpLike, peer *net.TCPConn) []string {
		got := []string{addrFree(c, c.CloseWrite()), addrFree(c, c.CloseWrite())}
		resetBy(peer)
		return append(got, addrFree(c, c.CloseRead()), addrFree(c, c.CloseWrite()), addrFree(c, c.CloseWrite()))
	}
	asGoTCP(t, run)
}
