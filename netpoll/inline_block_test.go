package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// inlineAnswerer is a careful DispatchInline handler: for each 8-byte
// request it writes a 4 KiB answer and takes the request only once the
// answer is written, and it returns nil (keeping the rest of its input)
// when a write or Flush says ErrWouldBlock, as DispatchInline asks.
func inlineAnswerer(c *Conn) error {
	r, w := c.Reader(), c.Writer()
	var answer [4096]byte
	for r.Len() >= 8 {
		req, err := r.Peek(8)
		if err != nil {
			return err
		}
		copy(answer[:8], req)
		if _, err := w.WriteBinary(answer[:]); err != nil {
			if errors.Is(err, ErrWouldBlock) {
				return nil
			}
			return err
		}
		if err := r.Skip(8); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			if errors.Is(err, ErrWouldBlock) {
				return nil // the answer is written: the poller sends it
			}
			return err
		}
	}
	return r.Release()
}

// TestInlineWouldBlockResumes: a DispatchInline handler told
// ErrWouldBlock by its writes must not be left stalled. The client
// pipelines 2,000 requests at once and reads nothing for 300 ms, so the
// answers (8 MiB) back up far above MaxOutput (64 KiB) and the handler
// stops with requests unanswered and a Flush's batch kept. No more
// input comes; the poller alone can go on: send the kept batch once
// there is room, and run the handler again for the requests it left.
// Every answer must come back, in order.
//
// Without halfClose, MaxInput is 4 KiB: most requests wait in the
// kernel, input paused, until the handler's runs take the rest. With
// halfClose the client ends its output after the requests, and the
// server reads them all and the end at once: a run that stops for room
// with the input final must not be taken for one that cannot go on
// (which closes); every request is answered, then the server closes.
func TestInlineWouldBlockResumes(t *testing.T) {
	const requests = 2000
	for _, b := range testBackends(false) {
		for _, trig := range []Trigger{LevelTriggered, EdgeTriggered} {
			for _, halfClose := range []bool{false, true} {
				t.Run(fmt.Sprintf("%v/%v/halfClose=%v", b, trig, halfClose), func(t *testing.T) {
					testInlineWouldBlockResumes(t, b, trig, halfClose, requests)
				})
			}
		}
	}
}

func testInlineWouldBlockResumes(t *testing.T, b Backend, trig Trigger, halfClose bool, requests int) {
	opts := []Option{WithBackend(b), WithTrigger(trig), WithDispatch(DispatchInline), WithPollers(1), WithMaxOutput(64 << 10)}
	if !halfClose {
		opts = append(opts, WithMaxInput(4<<10))
	}
	s, addr := startServer(t, inlineAnswerer, opts...)
	c := dialTCP(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	reqs := make([]byte, 8*requests)
	for i := range requests {
		binary.BigEndian.PutUint64(reqs[8*i:], uint64(i))
	}
	if _, err := c.Write(reqs); err != nil {
		t.Fatal(err)
	}
	if halfClose {
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	answer := make([]byte, 4096)
	for i := range requests {
		if _, err := io.ReadFull(c, answer); err != nil {
			t.Fatalf("answer %d of %d: %v (server: %d handler runs)", i, requests, err, s.Stats().HandlerRuns)
		}
		if got := binary.BigEndian.Uint64(answer); got != uint64(i) {
			t.Fatalf("answer %d is for request %d", i, got)
		}
	}
	if halfClose {
		if n, err := c.Read(answer); n != 0 || err != io.EOF {
			t.Fatalf("after the last answer: %d bytes, %v; want the server's EOF", n, err)
		}
	}
}
