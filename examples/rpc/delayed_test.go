package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestDelayedAnswersBounded: a client that sends many long tagged sleeps
// makes the server hold at most maxDelayed of them on timers (each holds
// its request's body); the rest are served in order. When the client
// goes, the waiting answers are dropped at once, not kept until their
// timers fire.
func TestDelayedAnswersBounded(t *testing.T) {
	states := make(chan *connState, 1)
	gone := make(chan struct{})
	addr := serveWith(t, handler(DefaultMaxFrame),
		netpoll.WithOnConnect(func(c *netpoll.Conn) {
			serverOnConnect(c)
			states <- c.Context().(*connState)
		}),
		netpoll.WithOnDisconnect(func(c *netpoll.Conn, err error) {
			serverOnDisconnect(c, err)
			close(gone)
		}))
	cl, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// maxDelayed tagged sleeps of 30 s, then five of 300 ms, which the
	// handler serves in order (it sleeps) as maxDelayed wait already.
	var frames []byte
	frame := func(id uint32, op byte, arg []byte) {
		payload := append([]byte{OpTagged, 0, 0, 0, 0, op}, arg...)
		binary.BigEndian.PutUint32(payload[1:], id)
		frames = binary.BigEndian.AppendUint32(frames, uint32(len(payload)))
		frames = append(frames, payload...)
	}
	for i := range maxDelayed {
		frame(uint32(i+1), OpSleep, []byte{0x75, 0x30, 'z'}) // 30,000 ms
	}
	for i := range 5 {
		frame(uint32(maxDelayed+i+1), OpSleep, []byte{0x01, 0x2c, 'z'}) // 300 ms
	}
	if _, err := cl.Write(frames); err != nil {
		t.Fatal(err)
	}
	var st *connState
	select {
	case st = <-states:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	// The handler takes maxDelayed on timers, then sleeps on the next.
	for i := 0; st.waiting() < maxDelayed; i++ {
		if i == 500 {
			t.Fatalf("%d answers waiting after 5 s, want %d", st.waiting(), maxDelayed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A handler past the bound would add the short sleeps by now; in
	// order, they are answered one by one, each after 300 ms.
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp := make([]byte, HeaderLen+IDLen+1)
	for i := range 5 {
		if _, err := io.ReadFull(cl, resp); err != nil {
			t.Fatalf("answer %d of the short sleeps: %v", i, err)
		}
		if id := binary.BigEndian.Uint32(resp[HeaderLen:]); id != uint32(maxDelayed+i+1) {
			t.Fatalf("answer %d is to request %d, want %d", i, id, maxDelayed+i+1)
		}
		if n := st.waiting(); n != maxDelayed {
			t.Fatalf("%d answers waiting on timers, want %d", n, maxDelayed)
		}
	}
	cl.Close()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("no OnDisconnect after the client closed")
	}
	if n := st.waiting(); n != 0 {
		t.Fatalf("%d answers still waiting after the connection closed", n)
	}
}

// TestCallEndedContextSendsNothing: a call whose context has already
// ended returns its error without sending a request.
func TestCallEndedContextSendsNothing(t *testing.T) {
	reqs := make(chan struct{}, 16)
	addr := serveWith(t, func(c *netpoll.Conn) error {
		r := c.Reader()
		if r.Len() > 0 {
			reqs <- struct{}{}
		}
		r.Skip(r.Len())
		return r.Release()
	})
	p, err := DialPool(context.Background(), "tcp", addr, PoolConfig{Conns: 1, Max: DefaultMaxFrame, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Call(ctx, OpEcho, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Call with a cancelled context = %v, want context.Canceled", err)
	}
	select {
	case <-reqs:
		t.Fatal("a call with a cancelled context sent its request")
	case <-time.After(200 * time.Millisecond):
	}
}

// serveWith serves h with opts on a 127.0.0.1 listener until the test
// ends and returns its address.
func serveWith(t *testing.T, h netpoll.Handler, opts ...netpoll.Option) string {
	t.Helper()
	s, err := netpoll.NewServer(h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	return ln.Addr().String()
}

// TestDelayedBytesBounded: tagged sleeps with large arguments wait on
// timers only while their bodies hold at most maxDelayedBytes; the next
// is served in order. Before the bound, 64 sleeps of up to 4 MiB each
// could hold 256 MiB per connection.
func TestDelayedBytesBounded(t *testing.T) {
	states := make(chan *connState, 1)
	addr := serveWith(t, handler(DefaultMaxFrame),
		netpoll.WithOnConnect(func(c *netpoll.Conn) {
			serverOnConnect(c)
			states <- c.Context().(*connState)
		}),
		netpoll.WithOnDisconnect(serverOnDisconnect))
	cl, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var frames []byte
	frame := func(id uint32, ms uint16, size int) {
		payload := append([]byte{OpTagged, 0, 0, 0, 0, OpSleep, byte(ms >> 8), byte(ms)}, make([]byte, size)...)
		binary.BigEndian.PutUint32(payload[1:], id)
		frames = binary.BigEndian.AppendUint32(frames, uint32(len(payload)))
		frames = append(frames, payload...)
	}
	const big = maxDelayedBytes/4 - 64
	for i := range 4 {
		frame(uint32(i+1), 30000, big) // four fit: 30 s on timers
	}
	frame(5, 300, 64<<10) // the fifth would pass the bound: in order
	if _, err := cl.Write(frames); err != nil {
		t.Fatal(err)
	}
	var st *connState
	select {
	case st = <-states:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
	}
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	answered := make(chan error, 1)
	go func() {
		resp := make([]byte, HeaderLen+IDLen+64<<10)
		_, err := io.ReadFull(cl, resp)
		if err == nil && binary.BigEndian.Uint32(resp[HeaderLen:]) != 5 {
			err = errors.New("the first answer is not to request 5")
		}
		answered <- err
	}()
	most, held := 0, 0
	for done := false; !done; {
		select {
		case err := <-answered:
			if err != nil {
				t.Fatalf("%v (%d answers waiting, %d bytes)", err, st.waiting(), st.heldBytes())
			}
			done = true
		case <-time.After(5 * time.Millisecond):
			most, held = max(most, st.waiting()), max(held, st.heldBytes())
		}
	}
	if most > 4 || held > maxDelayedBytes {
		t.Fatalf("up to %d answers holding %d bytes waited on timers; want at most 4 and %d", most, held, maxDelayedBytes)
	}
	if most < 4 {
		t.Fatalf("only %d answers waited on timers; want the 4 that fit", most)
	}
}
