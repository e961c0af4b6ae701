package netpoll

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// sendResetCases are ReadFrom's sendfile and splice on a connection
// whose peer reset it, followed by more calls, as Go's *net.TCPConn
// answers them: the kernel reports the reset to the one call that finds
// it (a sendfile, a splice), so a second ReadFrom and a Write then fail
// with EPIPE, and a Read sees the end of the stream.
var sendResetCases = []struct {
	name string
	run  func(t *testing.T, c tcpLike, peer *net.TCPConn) []string
}{
	{"sendfileTwiceThenWriteRead", func(t *testing.T, c tcpLike, peer *net.TCPConn) []string {
		resetBy(peer)
		var got []string
		for range 2 {
			got = append(got, errClass(c.ReadFrom(fileOf(t, []byte("file bytes")))))
		}
		n, err := c.Write([]byte("x"))
		return append(append(got, errClass(int64(n), err)), readN(c, 1)...)
	}},
	{"sendfileThenRead", func(t *testing.T, c tcpLike, peer *net.TCPConn) []string {
		resetBy(peer)
		got := []string{errClass(c.ReadFrom(fileOf(t, []byte("file bytes"))))}
		return append(got, readN(c, 2)...)
	}},
	{"spliceTwiceThenWrite", func(t *testing.T, c tcpLike, peer *net.TCPConn) []string {
		resetBy(peer)
		var got []string
		for range 2 {
			src, w := goTCPPair(t)
			if _, err := w.Write([]byte("socket bytes")); err != nil {
				t.Fatal(err)
			}
			w.Close()
			src.SetReadDeadline(time.Now().Add(5 * time.Second))
			got = append(got, errClass(c.ReadFrom(src)))
		}
		n, err := c.Write([]byte("x"))
		return append(got, errClass(int64(n), err))
	}},
	{"copyThenSendfile", func(t *testing.T, c tcpLike, peer *net.TCPConn) []string {
		resetBy(peer)
		got := []string{errClass(c.ReadFrom(strings.NewReader("copied")))}
		return append(got, errClass(c.ReadFrom(fileOf(t, []byte("file bytes")))))
	}},
}

// resetBy makes peer reset its connection, and waits for the reset to
// arrive.
func resetBy(peer *net.TCPConn) {
	peer.SetLinger(0)
	peer.Close()
	time.Sleep(50 * time.Millisecond)
}

// TestReview15aSendAfterResetAsGo: ReadFrom's sendfile and splice report
// a reset peer once, as Go's do; the calls after it fail with EPIPE or
// see the end of the stream, not the reset again.
func TestReview15aSendAfterResetAsGo(t *testing.T) {
	testutil.CheckLeaks(t)
	for _, rc := range sendResetCases {
		t.Run(rc.name, func(t *testing.T) {
			asGoTCP(t, func(c tcpLike, peer *net.TCPConn) []string { return rc.run(t, c, peer) })
		})
	}
}
