package netpoll

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// A dial to a wildcard address ("0.0.0.0:p", "[::]:p", ":p"), as a
// client dials a listener's own Addr, connects as Go's net.Dialer does
// and reports the same RemoteAddr: Go's is the peer's name as the kernel
// gives it (getpeername), not the address dialed; and where "[::]"
// reaches nothing Go tries "0.0.0.0" next (go.dev/issue/18806).
func TestDialWildcardAsGo(t *testing.T) {
	for _, lnet := range []string{"tcp4", "tcp"} {
		ln, err := net.Listen(lnet, ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		for _, dest := range [][2]string{{"tcp", fmt.Sprintf("0.0.0.0:%d", port)}, {"tcp", fmt.Sprintf("[::]:%d", port)}, {"tcp4", fmt.Sprintf("[::]:%d", port)}, {"tcp6", fmt.Sprintf("[::]:%d", port)}, {"tcp", fmt.Sprintf(":%d", port)}} {
			dnet, addr := dest[0], dest[1]
			desc := func(c net.Conn, err error) string {
				if err != nil {
					return "error: " + err.Error()
				}
				defer c.Close()
				return "remote " + c.RemoteAddr().String()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			want := desc(new(net.Dialer).DialContext(ctx, dnet, addr))
			for _, b := range testBackends(true) {
				d := Dialer{Options: []Option{WithBackend(b)}}
				c, err := d.DialContext(ctx, dnet, addr)
				var got string
				if err != nil {
					got = desc(nil, err)
				} else {
					got = desc(c, nil)
				}
				if got != want {
					t.Errorf("%v: listener %s, dial %s %s: %s; Go's: %s", b, lnet, dnet, addr, got, want)
				}
			}
			cancel()
		}
	}
}
