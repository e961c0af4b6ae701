package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// rpcCall sends one request on c and returns the answer's payload.
func rpcCall(t *testing.T, c net.Conn, req []byte) []byte {
	t.Helper()
	if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(req))), req...)); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, HeaderLen)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, binary.BigEndian.Uint32(hdr))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestUpperAnswerLeaksNoOtherAnswer: an OpUpper answer whose upper case
// is shorter than its argument was sent with the argument's length, its
// end left as the output buffer's memory held it: memory of the node
// pool, where another connection's answer had been. One client's answer
// then carried bytes of another client's.
func TestUpperAnswerLeaksNoOtherAnswer(t *testing.T) {
	s, addr, err := startServer("127.0.0.1:0", DefaultMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(s)
	secret := bytes.Repeat([]byte("secret-of-a"), 300)
	for i := range 20 {
		a, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		a.SetDeadline(time.Now().Add(5 * time.Second))
		rpcCall(t, a, append([]byte{OpUpper}, secret...))
		a.Close()
		b, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		b.SetDeadline(time.Now().Add(5 * time.Second))
		got := rpcCall(t, b, append([]byte{OpUpper}, bytes.Repeat([]byte("ı"), len(secret)/2)...))
		b.Close()
		if bytes.Contains(got, []byte("SECRET")) {
			t.Fatalf("round %d: client b's answer holds client a's: %q...", i, got[len(secret)/2:len(secret)/2+40])
		}
	}
}
