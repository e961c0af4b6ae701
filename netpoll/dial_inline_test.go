package netpoll

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestInlineDialedRunsOnLoop: under DispatchInline a dialed connection's
// OnConnect and handler runs belong on its poller's loop, where a Next
// that would wait says ErrWouldBlock. Conn.start ran them on the goroutine
// that called DialContext: a handler waiting there for the rest of a
// frame slept inside DialContext, and the peer, which sends the rest only
// once the dialer speaks, waited for it.
func TestInlineDialedRunsOnLoop(t *testing.T) {
	skipStd(t, "dispatch modes")
	addr := goServer(t, func(c net.Conn) {
		c.Write([]byte("abcd")) // half a frame at once
		var b [1]byte
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return
		}
		c.Write([]byte("efgh")) // the rest, once the client spoke
		io.ReadFull(c, b[:])
	})
	frames := make(chan string, 1)
	g, err := NewServer(func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(8)
		if err == ErrWouldBlock {
			return nil
		}
		if err != nil {
			return err
		}
		frames <- string(b)
		return r.Release()
	}, WithDispatch(DispatchInline), WithPollers(1),
		// Long enough for the greeting to be buffered when the
		// runner goes from OnConnect to the handler.
		WithOnConnect(func(c *Conn) { time.Sleep(50 * time.Millisecond) }))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	d := &Dialer{Server: g, Timeout: 5 * time.Second}
	type res struct {
		c   *Conn
		err error
	}
	done := make(chan res, 1)
	go func() {
		c, err := d.DialContext(context.Background(), "tcp", addr)
		done <- res{c, err}
	}()
	var c *Conn
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		c = r.c
	case <-time.After(2 * time.Second):
		buf := make([]byte, 1<<16)
		t.Log(string(buf[:runtime.Stack(buf, true)]))
		t.Fatal("DialContext did not return in 2 s: the inline handler waits on the dialing goroutine")
	}
	defer c.Close()
	if _, err := c.Write([]byte("!")); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-frames:
		if f != "abcdefgh" {
			t.Fatalf("frame %q", f)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the handler never got the whole frame")
	}
}
