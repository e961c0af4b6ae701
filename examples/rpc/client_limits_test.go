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

// TestClientUnusableAfterBadResponse: a serialized Client whose call
// fails on a response over its limit leaves the response's body in the
// stream. It used to keep using the connection, and the next call read
// those bytes as its own response: here the first response's body holds
// a valid frame, and the second call returned "XY" with no error. The
// client now closes the connection, and later calls return the error.
// The server is a plain socket that answers the first request with 38
// bytes and any later one with "hi".
func TestClientUnusableAfterBadResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			return
		}
		defer sc.Close()
		sc.SetDeadline(time.Now().Add(5 * time.Second))
		bad := binary.BigEndian.AppendUint32(nil, 2)
		bad = append(bad, "XY"...)
		bad = append(bad, bytes.Repeat([]byte{'.'}, 32)...)
		for i := 0; ; i++ {
			head := make([]byte, HeaderLen)
			if _, err := io.ReadFull(sc, head); err != nil {
				return
			}
			if _, err := io.ReadFull(sc, make([]byte, binary.BigEndian.Uint32(head))); err != nil {
				return
			}
			resp := []byte("hi")
			if i == 0 {
				resp = bad
			}
			sc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(resp))), resp...))
		}
	}()
	c := dialTestClient(t, ln.Addr().String(), 16)
	if _, err := c.Call(OpEcho, []byte("first")); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("a response of 38 bytes against a limit of 16: %v, want ErrFrameTooLarge", err)
	}
	got, err := c.Call(OpEcho, []byte("second"))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("second call = %q, %v; want the first call's ErrFrameTooLarge (the stream is out of step)", got, err)
	}
}

// TestPoolArgAtLimit: the server's limit is on the whole payload, and a
// tagged request adds 6 bytes (op, id, op) to the argument. Pool used to
// accept an argument of up to Max bytes: the server refused the frame and
// closed the connection, failing an unrelated call in flight on it. Now
// the largest argument the server takes passes, one byte more is refused
// by the client, and the call in flight is not disturbed.
func TestPoolArgAtLimit(t *testing.T) {
	const max = 1 << 10
	addr := startTestServer(t, max)
	p := dialTestPool(t, addr, PoolConfig{Conns: 1, Max: max, Timeout: 10 * time.Second})

	other := make(chan error, 1)
	go func() {
		got, err := p.Call(context.Background(), OpSleep, sleepArg(300*time.Millisecond, "other"))
		if err == nil && string(got) != "other" {
			t.Errorf("other call got %q", got)
		}
		other <- err
	}()
	time.Sleep(50 * time.Millisecond) // the other call is in flight

	largest := bytes.Repeat([]byte{'a'}, max-(1+IDLen+1))
	if got, err := p.Call(context.Background(), OpEcho, largest); err != nil || !bytes.Equal(got, largest) {
		t.Errorf("echo of the largest argument (%d bytes): %d bytes, %v", len(largest), len(got), err)
	}
	if _, err := p.Call(context.Background(), OpEcho, append(largest, 'b')); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("an argument one byte over: %v, want ErrFrameTooLarge", err)
	}
	if err := <-other; err != nil {
		t.Errorf("an unrelated call in flight on the same connection failed: %v", err)
	}
}

// TestDialClientDefaultMax: DialClient's max of 0 (or less) means
// DefaultMaxFrame, as PoolConfig.Max's does. Before, such a Client
// refused every call, an empty argument's included, with
// ErrFrameTooLarge ("limit 0").
func TestDialClientDefaultMax(t *testing.T) {
	addr := startTestServer(t, DefaultMaxFrame)
	for _, max := range []int{0, -1} {
		c := dialTestClient(t, addr, max)
		for _, arg := range []string{"", "hello"} {
			if got, err := c.Call(OpEcho, []byte(arg)); err != nil || string(got) != arg {
				t.Fatalf("max %d: Call(%q) = %q, %v", max, arg, got, err)
			}
		}
		big := make([]byte, DefaultMaxFrame-1) // op and argument: the server's limit
		if got, err := c.Call(OpEcho, big); err != nil || len(got) != len(big) {
			t.Fatalf("max %d: an argument of %d bytes: %d bytes, %v", max, len(big), len(got), err)
		}
		if _, err := c.Call(OpEcho, make([]byte, DefaultMaxFrame)); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("max %d: an argument over the limit: %v, want ErrFrameTooLarge", max, err)
		}
	}
}
