package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func startTestServer(t *testing.T, max int) string {
	t.Helper()
	s, addr, err := startServer("127.0.0.1:0", max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(s) })
	return addr
}

func dialTestClient(t *testing.T, addr string, max int) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialClient(ctx, "tcp", addr, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRoundTrip(t *testing.T) {
	addr := startTestServer(t, DefaultMaxFrame)
	c := dialTestClient(t, addr, DefaultMaxFrame)
	for _, size := range []int{0, 1, 3, 4095, 4096, 4097, 64 << 10, 1 << 20} {
		arg := make([]byte, size)
		for i := range arg {
			arg[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i%36]
		}
		for _, op := range []byte{OpEcho, OpUpper} {
			want := arg
			if op == OpUpper {
				want = bytes.ToUpper(arg)
			}
			got, err := c.Call(op, arg)
			if err != nil {
				t.Fatalf("op %c size %d: %v", op, size, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("op %c size %d: wrong answer of %d bytes", op, size, len(got))
			}
		}
	}
}

// TestBadFrameClosesOnlyThatConnection sends each kind of bad request on
// a raw connection and checks that the server closes it while a client
// on another connection keeps being served.
func TestBadFrameClosesOnlyThatConnection(t *testing.T) {
	const max = 1 << 10
	addr := startTestServer(t, max)
	good := dialTestClient(t, addr, max)
	frame := func(n uint32, body string) []byte {
		b := binary.BigEndian.AppendUint32(nil, n)
		return append(b, body...)
	}
	tests := []struct {
		name      string
		send      []byte
		closeSend bool // half-close after sending, so the frame is truncated at EOF
	}{
		{"over limit", frame(max+1, "e"), false},
		{"length 4 GiB-1", frame(0xffffffff, ""), false},
		{"truncated body", frame(100, "e0123456789"), true},
		{"truncated header", []byte{0, 0}, true},
		{"unknown op", frame(3, "zab"), false},
		{"empty request", frame(0, ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.closeSend {
				c.(*net.TCPConn).CloseWrite()
			}
			n, err := c.Read(make([]byte, 64))
			if n != 0 || !(errors.Is(err, io.EOF) || isReset(err)) {
				t.Fatalf("server answered a bad frame: n=%d err=%v, want the connection closed", n, err)
			}
			got, err := good.Call(OpEcho, []byte("still here"))
			if err != nil || string(got) != "still here" {
				t.Fatalf("other connection broken: %q, %v", got, err)
			}
		})
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

// TestPipelinedRequests sends several requests in one write and expects
// every answer, in order.
func TestPipelinedRequests(t *testing.T) {
	addr := startTestServer(t, DefaultMaxFrame)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var req, want []byte
	for i := range 50 {
		arg := bytes.Repeat([]byte{'a' + byte(i%26)}, i*37)
		req = binary.BigEndian.AppendUint32(req, uint32(1+len(arg)))
		req = append(append(req, OpUpper), arg...)
		want = binary.BigEndian.AppendUint32(want, uint32(len(arg)))
		want = append(want, bytes.ToUpper(arg)...)
	}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("pipelined answers differ")
	}
}
