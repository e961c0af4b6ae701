package netpoll

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestUringIdleWhileGroupDry: connections whose handlers read nothing
// hold the buffer group's buffers in their stashes (paused at their
// bound), so that the group is dry. A connection that then gets a
// message sees its receive end with ENOBUFS and takes the message by
// readv; once it is idle, nothing arrives for it, and its poller must
// be idle too: a receive armed again on the dry group ends with ENOBUFS
// at once, with no data, and reading the socket (EAGAIN) to arm it
// again is a spin of io_uring_enter calls and reads.
func TestUringIdleWhileGroupDry(t *testing.T) {
	needUring(t)
	h := func(c *Conn) error {
		r, w := c.Reader(), c.Writer()
		if p, _ := r.Peek(1); len(p) == 0 || p[0] != 'P' {
			return nil // held: never read, paused at its bound
		}
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w.WriteBinary(b)
		r.Release()
		return w.Flush()
	}
	s, addr := startServer(t, h, WithBackend(BackendUring), WithTrigger(EdgeTriggered),
		WithPollers(1), WithDispatch(DispatchInline), WithMaxInput(64<<10))
	probe := dialTCP(t, addr)
	echo := func(what string) {
		t.Helper()
		probe.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := probe.Write([]byte("P")); err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		if _, err := io.ReadFull(probe, b[:]); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	echo("first echo")
	echo("second echo") // by the receive
	const held, size = 96, 256 << 10
	var wg sync.WaitGroup
	conns := make([]net.Conn, 0, held)
	for range held {
		c := dialTCP(t, addr)
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			c.Write(bytes.Repeat([]byte("x"), size)) // ends at the deadline or the close
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		testutil.WaitGroup(t, &wg, 15*time.Second, "held writers")
	}()
	dry := testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BuffersInUse >= uringBufs })
	t.Logf("buffers in use %d of %d", s.Stats().BuffersInUse, uringBufs)
	if !dry {
		t.Skip("the held connections did not take the whole group")
	}
	echo("echo on a dry group")
	time.Sleep(50 * time.Millisecond)
	before := s.Stats()
	time.Sleep(300 * time.Millisecond)
	after := s.Stats()
	enters, reads := after.Enters-before.Enters, after.ReadCalls-before.ReadCalls
	t.Logf("in 300 ms of silence: %d io_uring_enter calls, %d reads, %d EAGAIN, receives ended %d",
		enters, reads, after.ReadEAGAIN-before.ReadEAGAIN, uringEnded(s))
	if enters > 100 || reads > 100 {
		t.Errorf("an idle connection on a dry group spins: %d io_uring_enter calls and %d reads in 300 ms", enters, reads)
	}
	echo("echo after the silence")
}
