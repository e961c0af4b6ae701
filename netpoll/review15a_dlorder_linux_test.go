package netpoll

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestReview15aWriteDeadlineFirstAsGo: a write whose deadline has passed
// fails with the timeout before it looks at the socket, as Go's does
// (internal/poll's prepareWrite comes before the system call): after
// CloseWrite, and on a reset connection, whose error then goes to the
// next write, not to the one that timed out.
func TestReview15aWriteDeadlineFirstAsGo(t *testing.T) {
	testutil.CheckLeaks(t)
	result := func(c net.Conn, n int64, err error) string {
		return fmt.Sprint(n, " ", addrFree(c, err))
	}
	cases := []struct {
		name string
		run  func(c tcpLike, peer *net.TCPConn) []string
	}{
		{"afterCloseWrite", func(c tcpLike, peer *net.TCPConn) []string {
			c.CloseWrite()
			c.SetWriteDeadline(time.Unix(1, 0))
			n, err := c.Write([]byte("x"))
			got := []string{result(c, int64(n), err)}
			n, err = c.Write(nil)
			got = append(got, result(c, int64(n), err))
			m, err := c.ReadFrom(fileOf(t, []byte("file bytes")))
			got = append(got, result(c, m, err))
			m, err = c.ReadFrom(strings.NewReader("abc"))
			return append(got, result(c, m, err))
		}},
		{"afterReset", func(c tcpLike, peer *net.TCPConn) []string {
			resetBy(peer)
			c.SetWriteDeadline(time.Unix(1, 0))
			n, err := c.Write([]byte("x"))
			got := []string{result(c, int64(n), err)}
			c.SetWriteDeadline(time.Time{})
			n, err = c.Write([]byte("x"))
			return append(got, result(c, int64(n), err))
		}},
		{"spliceAfterReset", func(c tcpLike, peer *net.TCPConn) []string {
			resetBy(peer)
			c.SetWriteDeadline(time.Unix(1, 0))
			src, w := goTCPPair(t)
			if _, err := w.Write([]byte("socket bytes")); err != nil {
				t.Fatal(err)
			}
			w.Close()
			src.SetReadDeadline(time.Now().Add(5 * time.Second))
			m, err := c.ReadFrom(src)
			got := []string{result(c, m, err)}
			c.SetWriteDeadline(time.Time{})
			n, err := c.Write([]byte("x"))
			return append(got, result(c, int64(n), err))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { asGoTCP(t, tc.run) })
	}
}
