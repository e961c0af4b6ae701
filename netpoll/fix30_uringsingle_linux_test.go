package netpoll

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// On a single-issuer ring a Close made off the issuer only queues its
// cancels, and the caller closes the descriptor at once. Here the loop
// reads B for the first time, which queues B's receive, and is then
// held in another connection's inline handler (C's), so that nothing
// submits the queue. Meanwhile a goroutine closes B, a connection made
// with Go's net takes B's descriptor number, and both its ends write.
// Once the loop goes on, each end must read what the other wrote: the
// old receive, issued on the number, took the new socket's first bytes
// under user data nobody owns.
func TestUringSingleIssuerQueuedRecvAfterClose(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "")
	t.Setenv(uringSingleEnv, "")
	t.Setenv(uringSQPollEnv, "") // an SQPOLL ring is not single-issuer
	testutil.CheckLeaks(t)
	stalled := make(chan struct{}, 4)
	release := make(chan struct{}, 4)
	h := func(c *Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		stall := bytes.Contains(b, []byte("STALL"))
		if err := r.Release(); err != nil {
			return err
		}
		if stall {
			stalled <- struct{}{}
			select {
			case <-release:
			case <-time.After(3 * time.Second):
			}
		}
		return nil
	}
	conns := make(chan *Conn, 4)
	s, addr := startServer(t, h, append(singleOpts(DispatchInline), WithPollers(1), WithOnConnect(func(c *Conn) { conns <- c }))...)
	checkSingle(t, s)
	u := s.pollers[0].ep.ur
	ca := dialTCP(t, addr)
	recvConn(t, conns)
	cb := dialTCP(t, addr)
	b := recvConn(t, conns)
	cc := dialTCP(t, addr)
	recvConn(t, conns)

	wait := func(what string) {
		t.Helper()
		select {
		case <-stalled:
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: handler did not run", what)
		}
	}
	ca.Write([]byte("STALL"))
	wait("A")
	// Both arrive while the loop is held: one pass reads B, then C.
	// More than the first read takes: the receive it queues starts
	// with a read (no POLL_FIRST), at its issue.
	cb.Write(bytes.Repeat([]byte("x"), 64<<10))
	time.Sleep(20 * time.Millisecond)
	cc.Write([]byte("STALL"))
	time.Sleep(20 * time.Millisecond)
	release <- struct{}{}
	wait("C")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fd := int(b.fd)
	u.mu.Lock()
	reg := u.reg(fd)
	queued := reg != nil && reg.recvUD != 0 && u.r.Pending() > 0
	u.mu.Unlock()
	if !queued {
		release <- struct{}{}
		t.Skip("B's receive was not left queued by the pass: the race was not set up")
	}
	b.Close() // off the issuer: queues the cancels, closes fd

	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	defer a.Close()
	var reused bool
	for _, c := range []net.Conn{d, a} {
		rc, _ := c.(*net.TCPConn).SyscallConn()
		rc.Control(func(f uintptr) { reused = reused || int(f) == fd })
	}
	if !reused {
		release <- struct{}{}
		t.Skipf("descriptor %d was not reused by the new connection", fd)
	}
	msg := []byte("0123456789abcdef")
	d.Write(msg)
	a.Write(msg)
	time.Sleep(20 * time.Millisecond)
	release <- struct{}{} // the loop submits its queue now
	submitted := testutil.WaitFor(2*time.Second, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.r.Pending() == 0
	})
	if !submitted {
		t.Fatal("the loop did not submit its queue")
	}
	time.Sleep(20 * time.Millisecond) // the receive's completions

	for i, c := range []net.Conn{d, a} {
		got := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, err := io.ReadFull(c, got); err != nil {
			t.Errorf("end %d of the connection on fd %d: read %d of %d bytes: %v", i, fd, n, len(msg), err)
		}
	}
}
