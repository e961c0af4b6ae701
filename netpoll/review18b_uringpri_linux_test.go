package netpoll

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestUringEdgeInputNotUrgent: under io_uring, the input event of an
// edge-triggered registration (the interest wantEvents gives it, evPri
// included) carries no evPri when the peer sent ordinary data. A poll
// request's completion carries the mask of the wake-up that fired it,
// not the socket's state as epoll's vfs_poll gives it, and TCP wakes its
// readers with EPOLLIN|EPOLLPRI|EPOLLRDNORM|EPOLLRDBAND for every
// arrival: before, every such event said urgent data (0x3), and fill
// read again for nothing (shortDrains).
func TestUringEdgeInputNotUrgent(t *testing.T) {
	needUring(t)
	u, err := newUringSet(false, false, false)
	if err != nil {
		t.Fatal(err)
	}
	ps := &pollset{ur: u}
	defer ps.close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	f, err := sc.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	const slot, gen = 5, 1
	if err := ps.add(fd, evIn|evOut|evRDHup|evPri|evET, slot, gen); err != nil {
		t.Fatal(err)
	}
	defer ps.del(fd)
	events := make([]event, 16)
	// waitFor returns the readiness of the registration's events during
	// up to d.
	waitFor := func(d time.Duration) uint32 {
		var ready uint32
		for end := time.Now().Add(d); time.Now().Before(end); {
			n, err := ps.wait(events, 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range events[:n] {
				if e.slot == slot {
					ready |= e.ready
				}
			}
		}
		return ready
	}
	// The poll armed: the socket's room (evOut) reported first.
	waitFor(100 * time.Millisecond)
	for i := range 5 {
		if _, err := cl.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		ready := waitFor(100 * time.Millisecond)
		if ready&evIn == 0 {
			t.Fatalf("write %d: no input event (ready %#x)", i, ready)
		}
		if ready&evPri != 0 {
			t.Fatalf("write %d: ordinary input reported as urgent data: ready %#x", i, ready)
		}
		var b [256]byte
		unix.Read(fd, b[:]) // drained: the next arrival is a new edge
	}
}
