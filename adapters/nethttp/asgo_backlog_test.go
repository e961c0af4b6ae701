package nethttp

import (
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

// TestAsGoSlowAccept: more connections than the adapter's accept queue
// (1024) arrive while the application does not call Accept; each sent its
// id. Accepting them later yields every connection once, with its bytes,
// as the kernel's backlog does for Go's listener.
func TestAsGoSlowAccept(t *testing.T) {
	const n = 1100
	revCompare(t, func(t *testing.T, st revStack) []string {
		ln, err := st.listen()
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		clients := make([]net.Conn, 0, n)
		defer func() {
			for _, c := range clients {
				c.Close()
			}
		}()
		for i := range n {
			c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
			if err != nil {
				return []string{fmt.Sprintf("dial %d: %v", i, err)}
			}
			clients = append(clients, c)
			fmt.Fprintf(c, "%05d", i)
		}
		time.Sleep(200 * time.Millisecond)
		seen := make(map[string]bool, n)
		deadline := time.Now().Add(8 * time.Second)
		for len(seen) < n && time.Now().Before(deadline) {
			c, err := acceptWithin(ln, 2*time.Second)
			if err != nil {
				break
			}
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			b := make([]byte, 5)
			_, err = io.ReadFull(c, b)
			c.Close()
			if err != nil || seen[string(b)] {
				return []string{fmt.Sprintf("conn %q: %v dup=%v", b, err, seen[string(b)])}
			}
			seen[string(b)] = true
		}
		return []string{fmt.Sprint(len(seen))}
	})
}
