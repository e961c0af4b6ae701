package uring

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recvPiece receives want through a one-shot receive with buffer select
// from group bgid and returns the piece taken.
func recvPiece(t *testing.T, r *Ring, br *BufRing, fd int, bgid uint16, want []byte) ([]byte, uint16) {
	t.Helper()
	r.SQE().PrepRecvMultishot(fd, bgid, 31)
	q, _ := waitCQE(t, r, 31)
	if q.Res <= 0 {
		t.Fatalf("recv: %+v", q)
	}
	data, id, ok := br.Take(q)
	if !ok || !bytes.Equal(data, want) {
		t.Fatalf("took %q (%v), want %q", data, ok, want)
	}
	return data, id
}

// A piece still held when the group and the ring close keeps the
// buffers mapped: its bytes stay readable until it is given back, and
// the last Recycle unmaps them. With Close unmapping at once, reading
// the piece afterwards faults.
func TestBufRingCloseWhileHeld(t *testing.T) {
	r := newRing(t, 0)
	fd, c := tcpPair(t)
	br, err := r.NewBufRing(4, 4, 256)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("kept past close"))
	data, id := recvPiece(t, r, br, fd, 4, []byte("kept past close"))
	r.SQE().PrepCancelFD(fd, 32)
	waitCQE(t, r, 32)
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !br.Mapped() {
		t.Fatal("buffers unmapped while a piece is held")
	}
	if string(data) != "kept past close" {
		t.Fatalf("held piece reads %q after Close", data)
	}
	br.Recycle(id)
	if br.Mapped() {
		t.Fatal("buffers still mapped after the last piece came back")
	}
	br.Recycle(id) // a second give-back of the same piece is ignored
}

// Pieces given back from other goroutines while the reaper takes new
// ones: every buffer returns to the kernel, none twice.
func TestBufRingRecycleConcurrent(t *testing.T) {
	r := newRing(t, 0)
	fd, c := tcpPair(t)
	br, err := r.NewBufRing(5, 8, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	back := make(chan uint16, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := range back {
			br.Recycle(id)
		}
	}()
	msg := bytes.Repeat([]byte{'m'}, 64)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 300 && time.Now().Before(deadline); i++ {
		c.Write(msg)
		for {
			r.SQE().PrepRecvMultishot(fd, 5, 33)
			q, _ := waitCQE(t, r, 33)
			if q.Res == -int32(unix.ENOBUFS) {
				time.Sleep(time.Millisecond) // the goroutine has not given enough back yet
				continue
			}
			if q.Res <= 0 {
				t.Fatalf("recv: %+v", q)
			}
			_, id, ok := br.Take(q)
			if !ok {
				t.Fatalf("no buffer: %+v", q)
			}
			back <- id
			if q.More() {
				r.SQE().PrepCancel(33, 0, 34)
				waitCQE(t, r, 34)
			}
			break
		}
	}
	close(back)
	wg.Wait()
	if br.InUse() != 0 {
		t.Fatalf("%d buffers in use after every piece came back", br.InUse())
	}
}
