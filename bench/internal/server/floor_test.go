package server

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestFloorEchoBackpressure: a client that writes far more than the
// socket buffers hold before it reads makes floor-echo keep refused
// output and wait for EPOLLOUT; every byte must still come back in
// order.
func TestFloorEchoBackpressure(t *testing.T) {
	srv, addr, err := newFloorEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	want := make([]byte, 32<<20)
	for i := range want {
		want[i] = byte(i * 7 / 5)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		wrote <- err
	}()
	// Read only once the server has had to keep output (bounded).
	for i := 0; i < 200 && srv.stalls.Load() == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if srv.stalls.Load() == 0 {
		t.Fatal("the server never found the client's socket full")
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal("read: ", err)
	}
	if err := <-wrote; err != nil {
		t.Fatal("write: ", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("echoed bytes differ")
	}
	if _, err := startFloorEcho("localhost:0", ""); err == nil {
		t.Error("startFloorEcho accepted a host name")
	}
}
