package nethttp

import (
	"fmt"
	"io"
	"testing"
	"time"
)

// TestAsGoTimedOutWriteThenClose: a Write whose deadline passes while
// the peer does not read returns n; the connection is then closed, and
// the peer reads everything. With Go's net the peer receives exactly n
// bytes (what the kernel took goes out after close). netpoll's Write
// documents the same of its n (netpoll/netconn.go: "the returned n
// counts the bytes of p that will go out ... (or Close's linger does)").
// Run with the listener still open, and with it closed before (as
// http.Server.Shutdown and Close do).
func TestAsGoTimedOutWriteThenClose(t *testing.T) {
	for _, closeLn := range []bool{false, true} {
		t.Run(fmt.Sprint("listenerClosed=", closeLn), func(t *testing.T) {
			revCompare(t, func(t *testing.T, st revStack) []string {
				ln, err := st.listen()
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				c, peer := revAccept(t, ln)
				if closeLn {
					ln.Close()
				}
				c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
				n, werr := c.Write(make([]byte, 16<<20))
				c.Close()
				time.Sleep(300 * time.Millisecond) // the peer comes back to read later
				peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				got, rerr := io.Copy(io.Discard, peer)
				if int64(n) != got {
					t.Logf("%s: Write returned n=%d; the peer received %d bytes", st.name, n, got)
				}
				return []string{errDesc(werr), fmt.Sprint("received n bytes: ", int64(n) == got), errDesc(rerr)}
			})
		})
	}
}
