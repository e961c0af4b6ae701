package load

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestMessagesNameTheirConnection: an echo delivered to the wrong
// connection must not compare equal. Before messages carried the
// connection's id, 64 B messages of connections 0 and 256 were identical
// (the pattern depends on id mod 256), and 8 B ones named no connection.
func TestMessagesNameTheirConnection(t *testing.T) {
	for _, tc := range []struct{ size, a, b int }{{64, 0, 256}, {64, 3, 515}, {8, 0, 1}} {
		ma, mb := make([]byte, tc.size), make([]byte, tc.size)
		pattern(ma, tc.a)
		pattern(mb, tc.b)
		var sa, sb uint64
		message(ma, tc.size, tc.a, &sa)
		message(mb, tc.size, tc.b, &sb)
		if bytes.Equal(ma, mb) {
			t.Errorf("size %d: connection %d's and connection %d's first messages are identical: % x", tc.size, tc.a, tc.b, ma[:min(16, len(ma))])
		}
	}
}

// TestSwappedEchoesFail: a server that writes each connection's echo to
// the other connection fails verification (-size 8, 2 connections: it
// passed before).
func TestSwappedEchoesFail(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var cs [2]net.Conn
		for i := range cs {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cs[i] = c
		}
		for i := range cs {
			go func() { io.Copy(cs[1-i], cs[i]) }() // cross-wired
		}
	}()
	var out strings.Builder
	cfg := Config{Workload: PingPong, Addr: ln.Addr().String(), Conns: 2, Size: 8, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond}
	if err := Run(cfg, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", out.String())
	if strings.Contains(out.String(), `"verified":true`) {
		t.Fatal("a server that swaps the two connections' echoes was verified")
	}
}

// TestHungConnectionFails: a server that stops answering one of its
// connections (a lost wake-up) after a few messages, long before the
// window ends, fails the run. Before, it was verified: the worker blocked
// in its read got its deadline only after the window, and errors were
// dropped then.
func TestHungConnectionFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for k := 0; ; k++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for i := 0; ; i++ {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if k == 1 && i >= 3 {
						continue // never answer this connection again
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	var out strings.Builder
	cfg := Config{Workload: PingPong, Addr: ln.Addr().String(), Conns: 2, Size: 64, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond}
	if err := Run(cfg, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", out.String())
	if strings.Contains(out.String(), `"verified":true`) {
		t.Fatal("a server that stopped answering one of 2 connections for the whole window was verified")
	}
}
