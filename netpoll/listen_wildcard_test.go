package netpoll

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestListenWildcardAsGo: a wildcard address listens as Go's net.Listen
// does (with "tcp", both families where the system can: Addr "[::]:port"
// for "0.0.0.0:0" and ":0"; with "tcp4", IPv4 only), and the listener
// serves 127.0.0.1 either way. "0.0.0.0" used to listen on IPv4 alone.
func TestListenWildcardAsGo(t *testing.T) {
	for _, tc := range []struct{ network, address string }{
		{"tcp", "0.0.0.0:0"},
		{"tcp", ":0"},
		{"tcp", "[::]:0"},
		{"tcp4", "0.0.0.0:0"},
		{"tcp4", ":0"},
	} {
		gl, err := net.Listen(tc.network, tc.address)
		if err != nil {
			t.Fatal(err)
		}
		want := gl.Addr().String()
		gl.Close()
		want = want[:strings.LastIndex(want, ":")] // the host part
		for _, b := range []Backend{BackendEpoll, BackendStd} {
			addrs := make(chan [2]string, 1)
			s, err := NewServer(echoHandler, WithBackend(b), WithOnConnect(func(c *Conn) {
				addrs <- [2]string{c.LocalAddr().String(), c.RemoteAddr().String()}
			}))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := s.Listen(tc.network, tc.address)
			if err != nil {
				s.Close()
				t.Fatalf("%v: Listen(%q, %q): %v", b, tc.network, tc.address, err)
			}
			got := ln.Addr().String()
			if host := got[:strings.LastIndex(got, ":")]; host != want {
				t.Errorf("%v: Listen(%q, %q).Addr() = %s, want host %s as Go's", b, tc.network, tc.address, got, want)
			}
			go s.Serve(ln)
			port := got[strings.LastIndex(got, ":")+1:]
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
			if err != nil {
				t.Fatalf("%v: dial 127.0.0.1 to %s: %v", b, got, err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("ping"))
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("%v: echo through %s = %q, %v", b, got, buf, err)
			}
			c.Close()
			// The accepted side's addresses read as Go's do: IPv4, not
			// IPv4-mapped IPv6, on a socket of both families.
			if a := <-addrs; a[0] != "127.0.0.1:"+port || a[1] != c.LocalAddr().String() {
				t.Errorf("%v: accepted on %s: LocalAddr %s, RemoteAddr %s; want 127.0.0.1:%s and %s", b, got, a[0], a[1], port, c.LocalAddr())
			}
			s.Close()
		}
	}
}
