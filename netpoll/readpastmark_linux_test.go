package netpoll

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadPastMark: a read that stopped short at an urgent mark goes on
// past it into the rest of the vectors (the first vector filled or not),
// skipping the out-of-band byte, and leaves the socket past the mark, as
// the io_uring backend needs before it arms a receive (readPastMark).
func TestReadPastMark(t *testing.T) {
	for _, sizes := range [][]int{{3, 8}, {2, 5}, {16}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl := dialTCP(t, ln.Addr().String())
		sc, err := ln.Accept()
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		srv := sc.(*net.TCPConn)
		sendUrgent(t, cl)
		raw, err := srv.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		vecs := make([][]byte, len(sizes))
		for i, n := range sizes {
			vecs[i] = make([]byte, n)
		}
		var calls atomic.Uint64
		var n, past int
		var atMark, after bool
		var rerr error
		raw.Control(func(fd uintptr) {
			n, rerr = sysReadv(int(fd), vecs)
			atMark = sockAtMark(int(fd))
			if rerr == nil {
				past = readPastMark(int(fd), vecs, n, &calls)
			}
			after = sockAtMark(int(fd))
		})
		var got []byte
		for _, v := range vecs {
			got = append(got, v...)
		}
		got = got[:min(past, len(got))]
		if rerr != nil || n != 2 || !atMark || past != 4 || string(got) != "abcd" || after {
			t.Errorf("vectors %v: read %d (at mark %v), then %d %q (at mark %v), %v; want 2 (true), then 4 \"abcd\" (false)",
				sizes, n, atMark, past, got, after, rerr)
		}
		if calls.Load() == 0 {
			t.Errorf("vectors %v: readPastMark counted no read", sizes)
		}
		cl.Close()
		srv.Close()
	}
}

// sendUrgent writes as writeUrgent does, and waits until the peer's
// kernel has acknowledged every byte, so that they are in its socket.
func sendUrgent(t *testing.T, cl *net.TCPConn) {
	t.Helper()
	writeUrgent(t, cl)
	raw, err := cl.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	deadline := time.Now().Add(5 * time.Second)
	for {
		var info *unix.TCPInfo
		raw.Control(func(fd uintptr) {
			info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		})
		if serr != nil {
			t.Fatal("TCP_INFO: ", serr)
		}
		if info.Unacked == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d segments unacknowledged after 5 s", info.Unacked)
		}
		time.Sleep(time.Millisecond)
	}
}
