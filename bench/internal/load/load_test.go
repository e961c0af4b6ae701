package load

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func TestReadResponse(t *testing.T) {
	ok := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 13\r\nDate: x\r\n\r\nHello, World!"
	for _, tc := range []struct {
		resp string
		err  string
	}{
		{ok + ok, ""},
		{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "unexpected status"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, World!\r\n0\r\n\r\n", "Transfer-Encoding"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, Wurld!", errMismatch.Error()},
		{"HTTP/1.1 200 OK\r\n\r\n", "without Content-Length"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello", "read body"},
	} {
		br := bufio.NewReader(strings.NewReader(tc.resp))
		n, err := ReadResponse(br, make([]byte, 64))
		if tc.err == "" {
			if err != nil || n != 13 {
				t.Fatalf("%q: %d, %v", tc.resp, n, err)
			}
			if n, err = ReadResponse(br, make([]byte, 64)); err != nil || n != 13 {
				t.Fatalf("second response: %d, %v", n, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err %v, want %q", tc.resp, err, tc.err)
		}
	}
}

func TestMessagesCarrySequence(t *testing.T) {
	a, b := make([]byte, 4*16), make([]byte, 4*16)
	pattern(a, 1)
	copy(b, a)
	var seq uint64
	message(a, 16, 1, &seq)
	if seq != 4 {
		t.Fatalf("seq %d after one batch of 4", seq)
	}
	message(b, 16, 1, &seq)
	if string(a) == string(b) {
		t.Fatal("two batches are identical: a stale echo would pass")
	}
	small := make([]byte, 3)
	message(small, 3, 0, &seq)
	if small[0] != byte(seq) {
		t.Fatal("short message lacks its sequence")
	}
}

// TestEchoDetectsCorruption runs the ping-pong worker against a server that
// corrupts one byte and checks the run is not verified.
func TestEchoDetectsCorruption(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
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
			go func() {
				defer c.Close()
				buf := make([]byte, 256)
				for i := 0; i < 1000; i++ {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if i == 3 {
						buf[0] ^= 0xff
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	var out strings.Builder
	cfg := Config{Workload: PingPong, Addr: ln.Addr().String(), Conns: 2, Size: 32, Duration: 100 * time.Millisecond}
	if err := Run(cfg, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"verified":false`) || !strings.Contains(out.String(), "differ") {
		t.Fatalf("corruption not reported: %s", out.String())
	}
}
