package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestUpperAnswerIsUpperCase: OpUpper answered with a frame of the
// argument's length whatever bytes.ToUpper made of it: a letter whose
// upper case is shorter ("ı" is 2 bytes, "I" 1) left the end of the
// answer as whatever the output buffer's memory held, and a longer one
// ("ɐ" 2 bytes, "Ɐ" 3; an invalid byte becomes a 3-byte U+FFFD) was cut.
// The client compares with bytes.ToUpper (main.go, request).
func TestUpperAnswerIsUpperCase(t *testing.T) {
	s, addr, err := startServer("127.0.0.1:0", DefaultMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	secret := bytes.Repeat([]byte("SECRET-"), 600)
	for _, arg := range [][]byte{[]byte("ıııı"), []byte("ɐɐ"), {0xff, 'a'}, []byte("plain")} {
		// An echo first, so that the output buffer's memory held bytes.
		for _, req := range [][]byte{append([]byte{OpEcho}, secret...), append([]byte{OpUpper}, arg...)} {
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
			if req[0] == OpUpper {
				if want := bytes.ToUpper(arg); !bytes.Equal(got, want) {
					t.Errorf("upper(%q) = %q, want %q", arg, got, want)
				}
			}
		}
	}
}
