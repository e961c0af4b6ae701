package main

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestInlineDelayedAnswersDoNotStall: under DispatchInline the server
// serves tagged sleeps in order, in the handler, not from timers. A
// timer's answer holds the connection's lock while its Flush waits for
// the poller to send output above MaxOutput, and a request arriving
// then ran the handler on that poller, which waited for the lock: the
// poller stalled for good, with every connection on it. Here the
// server has one poller, an output bound of 16 KiB and sockets with a
// send buffer of 4 KiB; connection A sends 24 tagged sleeps of 4,000
// bytes, does not read until their answers have filled its output, and
// sends one more request; then connection B's request must be
// answered, and A must get every answer. The handler also flushes, even
// nothing, before it takes input: a Flush that said ErrWouldBlock
// leaves more than MaxOutput queued, and the next run's second write
// into a batch said ErrWouldBlock too, after its request was taken; the
// connection was closed (A got 60,120 of 96,201 bytes).
func TestInlineDelayedAnswersDoNotStall(t *testing.T) {
	startDialGroup(t)
	fds, gs := countFDs(t), goroutines()
	t.Cleanup(func() { checkNoLeaks(t, fds, gs) })
	s, err := newServer(DefaultMaxFrame, netpoll.WithDispatch(netpoll.DispatchInline), netpoll.WithPollers(1),
		netpoll.WithMaxOutput(16<<10), netpoll.WithOnConnect(func(c *netpoll.Conn) {
			c.SetWriteBuffer(4096)
			serverOnConnect(c)
		}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	dial := func() net.Conn {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() }) // before the server's Close
		return c
	}
	a := dial()
	a.(*net.TCPConn).SetReadBuffer(4096)

	const sleeps, size = 24, 4000
	var reqs []byte
	for i := range sleeps {
		p := append([]byte{OpTagged, 0, 0, 0, byte(i), OpSleep}, sleepArg(20*time.Millisecond, string(make([]byte, size)))...)
		reqs = binary.BigEndian.AppendUint32(reqs, uint32(len(p)))
		reqs = append(reqs, p...)
	}
	a.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := a.Write(reqs); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the sleeps end; their answers fill the output
	req, resp := echoFrame("after")
	if _, err := a.Write(req); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	b := dial()
	b.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Write(req); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(resp))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != string(resp) {
		t.Fatalf("another connection of the poller: %q, %v; the poller is stalled", got, err)
	}

	// A: every answer (in order where the sleeps are served in the
	// handler; BackendStd has no inline dispatch), then the last
	// request's.
	ids := make(map[uint32]bool)
	for i := range sleeps {
		var hdr [HeaderLen + IDLen]byte
		if _, err := io.ReadFull(a, hdr[:]); err != nil {
			t.Fatalf("connection A: %d of %d answers, then %v", i, sleeps, err)
		}
		n, id := binary.BigEndian.Uint32(hdr[:]), binary.BigEndian.Uint32(hdr[HeaderLen:])
		if n != IDLen+size || id >= sleeps || ids[id] {
			t.Fatalf("connection A: answer %d has length %d, id %d", i, n, id)
		}
		ids[id] = true
		if _, err := io.ReadFull(a, make([]byte, size)); err != nil {
			t.Fatalf("connection A: answer %d: %v", i, err)
		}
	}
	if _, err := io.ReadFull(a, got); err != nil || string(got) != string(resp) {
		t.Fatalf("connection A, the request sent last: %q, %v", got, err)
	}
}

// skipUnderInline skips a test of the answers that timers send out of
// order when UPOLL asks for DispatchInline, under which the server
// serves tagged sleeps in order (handlerFor).
func skipUnderInline(t *testing.T) {
	t.Helper()
	opts, err := netpoll.ParseEnv(os.Getenv(netpoll.EnvVar))
	if err != nil {
		t.Fatal(err)
	}
	cfg := netpoll.DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Dispatch == netpoll.DispatchInline {
		t.Skip("UPOLL asks for DispatchInline: tagged sleeps are served in order")
	}
}
