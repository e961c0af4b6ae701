package uring

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"golang.org/x/sys/unix"
)

func newRing(t *testing.T, want uint32) *Ring {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err)
	}
	// A single issuer's submissions must come from the thread that set
	// the ring up.
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	r, err := New(64, 0, want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// waitCQE submits and waits until a completion with user data ud
// arrives (within a few seconds), returning it and every other seen.
func waitCQE(t *testing.T, r *Ring, ud uint64) (CQE, []CQE) {
	t.Helper()
	var others []CQE
	deadline := time.Now().Add(5 * time.Second)
	var cqes [16]CQE
	for time.Now().Before(deadline) {
		if _, err := r.SubmitAndWait(1, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		n := r.Reap(cqes[:])
		for i, c := range cqes[:n] {
			if c.UserData == ud {
				return c, append(others, cqes[i+1:n]...)
			}
			others = append(others, c)
		}
	}
	t.Fatalf("no completion for %d within 5s (saw %v)", ud, others)
	return CQE{}, nil
}

// tcpPair returns a connected TCP pair on 127.0.0.1: the server side as
// a raw descriptor (nonblocking, owned by the test), the client as a
// net.Conn.
func tcpPair(t *testing.T) (int, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.(*net.TCPConn).File()
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Dup(int(f.Fd()))
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd, c
}

func TestNopRoundTrip(t *testing.T) {
	r := newRing(t, SetupSingleIssuer|SetupDeferTaskrun)
	t.Logf("flags that took: %#x, features %#x", r.Flags(), r.Features())
	for i := range int(r.sqEntries) {
		s := r.SQE()
		if s == nil {
			t.Fatalf("SQE %d: queue full", i)
		}
		s.PrepNop(uint64(i))
	}
	if r.SQE() != nil || r.Pending() != r.sqEntries {
		t.Fatalf("a full queue handed out another SQE (pending %d)", r.Pending())
	}
	seen := 0
	var cqes [64]CQE
	deadline := time.Now().Add(5 * time.Second)
	for seen < int(r.sqEntries) && time.Now().Before(deadline) {
		if _, err := r.SubmitAndWait(1, time.Second); err != nil {
			t.Fatal(err)
		}
		for _, c := range cqes[:r.Reap(cqes[:])] {
			if c.Res != 0 || c.UserData != uint64(seen) {
				t.Fatalf("completion %d: %+v", seen, c)
			}
			seen++
		}
	}
	if seen != int(r.sqEntries) {
		t.Fatalf("reaped %d NOPs, want %d", seen, r.sqEntries)
	}
	ctr := r.Counters()
	if ctr.Submitted.Load() != uint64(seen) || ctr.Completed.Load() != uint64(seen) || ctr.Enters.Load() == 0 {
		t.Fatalf("counters: submitted %d completed %d enters %d", ctr.Submitted.Load(), ctr.Completed.Load(), ctr.Enters.Load())
	}
}

func TestWaitTimeout(t *testing.T) {
	r := newRing(t, 0)
	start := time.Now()
	if _, err := r.SubmitAndWait(1, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 5*time.Second {
		t.Fatalf("a wait of 50ms with nothing in flight took %v", d)
	}
}

func TestRecvMultishotBufRing(t *testing.T) {
	r := newRing(t, SetupSingleIssuer|SetupDeferTaskrun)
	fd, c := tcpPair(t)
	br, err := r.NewBufRing(1, 8, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	r.SQE().PrepRecvMultishot(fd, 1, 7)
	want := testutil.RandomBytes(1, 4000)
	var got []byte
	go func() {
		for i := 0; i < len(want); i += 500 {
			c.Write(want[i:min(i+500, len(want))])
			time.Sleep(time.Millisecond)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	var cqes [16]CQE
	for len(got) < len(want) && time.Now().Before(deadline) {
		if _, err := r.SubmitAndWait(1, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for _, q := range cqes[:r.Reap(cqes[:])] {
			if q.Res == -int32(unix.ENOBUFS) {
				r.SQE().PrepRecvMultishot(fd, 1, 7) // all buffers were out
				continue
			}
			if q.Res <= 0 {
				t.Fatalf("recv: %+v", q)
			}
			data, id, ok := br.Take(q)
			if !ok {
				t.Fatalf("recv completion without a buffer: %+v", q)
			}
			got = append(got, data...)
			br.Recycle(id)
			if !q.More() {
				r.SQE().PrepRecvMultishot(fd, 1, 7)
			}
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received %d bytes, want %d (equal prefix: %v)", len(got), len(want), bytes.HasPrefix(want, got))
	}
	if br.InUse() != 0 {
		t.Fatalf("%d buffers in use after all were recycled", br.InUse())
	}
}

// TestBufRingExhausted fills every buffer without recycling: the
// multishot receive ends with ENOBUFS and no F_MORE, the bytes not yet
// received stay in the socket, and after recycling a new receive gets
// them all, in order.
func TestBufRingExhausted(t *testing.T) {
	r := newRing(t, SetupSingleIssuer|SetupDeferTaskrun)
	fd, c := tcpPair(t)
	br, err := r.NewBufRing(2, 2, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	want := testutil.RandomBytes(2, 100)
	if _, err := c.Write(want); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // all 100 bytes in the socket
	r.SQE().PrepRecvMultishot(fd, 2, 9)
	var got []byte
	var held []uint16
	ended := false
	var cqes [16]CQE
	deadline := time.Now().Add(5 * time.Second)
	for !ended && time.Now().Before(deadline) {
		if _, err := r.SubmitAndWait(1, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for _, q := range cqes[:r.Reap(cqes[:])] {
			if q.Res == -int32(unix.ENOBUFS) {
				if q.More() {
					t.Fatalf("ENOBUFS with F_MORE: %+v", q)
				}
				ended = true
				continue
			}
			data, id, ok := br.Take(q)
			if !ok || q.Res <= 0 {
				t.Fatalf("recv: %+v", q)
			}
			got = append(got, data...)
			held = append(held, id)
		}
	}
	if !ended || len(held) != 2 || br.InUse() != 2 {
		t.Fatalf("ended %v, %d buffers held (in use %d), %d bytes", ended, len(held), br.InUse(), len(got))
	}
	for _, id := range held {
		br.Recycle(id)
	}
	// Recycled, the buffers serve a new receive; each time the group
	// runs dry again the receive ends and is armed anew.
	armed := false
	for len(got) < len(want) && time.Now().Before(deadline) {
		if !armed {
			r.SQE().PrepRecvMultishot(fd, 2, 10)
			armed = true
		}
		if _, err := r.SubmitAndWait(1, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for _, q := range cqes[:r.Reap(cqes[:])] {
			if q.Res == -int32(unix.ENOBUFS) {
				armed = false
				continue
			}
			data, id, ok := br.Take(q)
			if !ok || q.Res <= 0 {
				t.Fatalf("recv after recycling: %+v", q)
			}
			got = append(got, data...)
			br.Recycle(id)
			armed = armed && q.More()
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes after recovery, want %d", len(got), len(want))
	}
}

func TestCancelRecv(t *testing.T) {
	r := newRing(t, SetupSingleIssuer|SetupDeferTaskrun)
	fd, _ := tcpPair(t)
	br, err := r.NewBufRing(3, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	r.SQE().PrepRecvMultishot(fd, 3, 11)
	if _, err := r.Submit(); err != nil {
		t.Fatal(err)
	}
	r.SQE().PrepCancel(11, 0, 12)
	q, others := waitCQE(t, r, 12)
	if q.Res != 0 {
		t.Fatalf("cancel: %+v", q)
	}
	if len(others) == 0 {
		q, _ = waitCQE(t, r, 11)
	} else {
		q = others[0]
	}
	if q.UserData != 11 || q.Res != -int32(unix.ECANCELED) || q.More() {
		t.Fatalf("cancelled recv: %+v", q)
	}
	// Nothing is left to cancel.
	r.SQE().PrepCancel(11, 0, 13)
	if q, _ := waitCQE(t, r, 13); q.Res != -int32(unix.ENOENT) {
		t.Fatalf("second cancel: %+v, want ENOENT", q)
	}
}

func TestAcceptMultishot(t *testing.T) {
	r := newRing(t, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r.SQE().PrepAcceptMultishot(int(f.Fd()), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 20)
	for i := range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		q, _ := waitCQE(t, r, 20)
		if q.Res < 0 || !q.More() {
			t.Fatalf("accept %d: %+v", i, q)
		}
		// The accepted socket talks to c.
		if _, err := c.Write([]byte("hi")); err != nil {
			t.Fatal(err)
		}
		s := r.SQE()
		var b [8]byte
		s.PrepRecv(int(q.Res), b[:], 0, 21)
		if q2, _ := waitCQE(t, r, 21); q2.Res != 2 || string(b[:2]) != "hi" {
			t.Fatalf("recv on accepted fd: %+v %q", q2, b[:2])
		}
		unix.Close(int(q.Res))
	}
	r.SQE().PrepCancel(20, 0, 22)
	waitCQE(t, r, 22)
}

func TestSendAndWritev(t *testing.T) {
	r := newRing(t, SetupSingleIssuer|SetupDeferTaskrun)
	fd, c := tcpPair(t)
	msg := []byte("hello, ")
	r.SQE().PrepSend(fd, msg, 0, 30)
	if q, _ := waitCQE(t, r, 30); q.Res != int32(len(msg)) {
		t.Fatalf("send: %+v", q)
	}
	parts := [][]byte{[]byte("io_"), []byte("uring")}
	iov := make([]unix.Iovec, len(parts))
	for i, p := range parts {
		iov[i].Base = &p[0]
		iov[i].SetLen(len(p))
	}
	r.SQE().PrepWritev(fd, iov, 31)
	if q, _ := waitCQE(t, r, 31); q.Res != 8 {
		t.Fatalf("writev: %+v", q)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 15)
	if _, err := readFull(c, got); err != nil || string(got) != "hello, io_uring" {
		t.Fatalf("peer read %q, %v", got, err)
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func TestPollEventfd(t *testing.T) {
	r := newRing(t, 0)
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	r.SQE().PrepPollAdd(efd, unix.POLLIN, true, false, 40)
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	var b [8]byte
	for i := range 3 {
		unix.Write(efd, one)
		q, _ := waitCQE(t, r, 40)
		if q.Res&unix.POLLIN == 0 || !q.More() {
			t.Fatalf("poll %d: %+v", i, q)
		}
		unix.Read(efd, b[:])
	}
	r.SQE().PrepPollRemove(40, 41)
	if q, _ := waitCQE(t, r, 41); q.Res != 0 {
		t.Fatalf("poll remove: %+v", q)
	}
}

// TestCloseNoLeak opens and closes rings with buffer rings: no
// descriptor and no mapping is left.
func TestCloseNoLeak(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fds0, maps0 := testutil.FDs(t), mappings(t)
	for range 50 {
		r, err := New(32, 0, SetupSingleIssuer|SetupDeferTaskrun)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.NewBufRing(5, 16, 4096)
		if err != nil {
			t.Fatal(err)
		}
		r.SQE().PrepNop(1)
		r.Submit()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if r.SQE() != nil {
			t.Fatal("SQE on a closed ring")
		}
		if _, err := r.Submit(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Submit on a closed ring: %v", err)
		}
	}
	if fds, maps := testutil.FDs(t), mappings(t); fds > fds0 || maps > maps0+4 {
		t.Fatalf("after 50 rings: %d fds (was %d), %d mappings (was %d)", fds, fds0, maps, maps0)
	}
}

func mappings(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func TestAvailableNamesCause(t *testing.T) {
	err := Available()
	t.Logf("Available: %v", err)
	if err != nil && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Available: %v does not wrap ErrUnavailable", err)
	}
	if e := setupErr(unix.ENOSYS); !errors.Is(e, ErrUnavailable) || !strings.Contains(e.Error(), "ENOSYS") {
		t.Fatalf("ENOSYS: %v", e)
	}
	if e := setupErr(unix.EPERM); !errors.Is(e, ErrUnavailable) || !strings.Contains(e.Error(), "io_uring_disabled") && !strings.Contains(e.Error(), "seccomp") {
		t.Fatalf("EPERM: %v", e)
	}
}

// newIncBufRing registers an incremental group, skipping where the
// kernel lacks IOU_PBUF_RING_INC.
func newIncBufRing(t *testing.T, r *Ring, bgid uint16, n, size int) *BufRing {
	t.Helper()
	br, err := r.NewBufRingIncremental(bgid, n, size)
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("IOU_PBUF_RING_INC (Linux 6.12+): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { br.Close() })
	return br
}

// TestBufRingIncremental sends small messages over three connections in
// turn into one incremental group of eight 64 B buffers: the pieces of
// the connections share buffers, each starts where the buffer's
// previous one ended, and a buffer goes back to the kernel only when the
// last piece of it is given back. Connection 0 sends one message in ten
// and its last three pieces are held (pinning three to six buffers)
// while the others' traffic, more than the group holds, cycles the
// rest; they are checked when given back: a buffer given back too early
// would have been refilled under them.
func TestBufRingIncremental(t *testing.T) {
	r := newRing(t, SetupSingleIssuer|SetupDeferTaskrun)
	br := newIncBufRing(t, r, 3, 8, 64)
	if !br.Incremental() {
		t.Fatal("not incremental")
	}
	const conns, rounds = 3, 150
	var fds [conns]int
	var peers [conns]net.Conn
	for k := range conns {
		fds[k], peers[k] = tcpPair(t)
		r.SQE().PrepRecvMultishot(fds[k], 3, uint64(100+k))
	}
	var sent, got [conns][]byte
	type piece struct {
		data []byte
		id   uint16
		off  int // in conn 0's stream
	}
	var held []piece
	checked := 0
	release := func(p piece) {
		if !bytes.Equal(p.data, sent[0][p.off:p.off+len(p.data)]) {
			t.Fatalf("conn 0's piece at %d (buffer %d) changed while held: %q, sent %q", p.off, p.id, p.data, sent[0][p.off:p.off+len(p.data)])
		}
		checked += len(p.data)
		br.Recycle(p.id)
	}
	var lastID uint16
	lastConn, shared := -1, 0
	var cqes [16]CQE
	rnd := testutil.RandomBytes(9, rounds*conns*41)
	deadline := time.Now().Add(10 * time.Second)
	for i := range rounds * conns {
		k := 1 + i%2
		if i%10 == 0 {
			k = 0
		}
		msg := rnd[i*41 : i*41+8+int(rnd[i*41])%33]
		sent[k] = append(sent[k], msg...)
		if _, err := peers[k].Write(msg); err != nil {
			t.Fatal(err)
		}
		for len(got[k]) < len(sent[k]) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: conn %d received %d of %d bytes", i, k, len(got[k]), len(sent[k]))
			}
			if _, err := r.SubmitAndWait(1, 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			for _, q := range cqes[:r.Reap(cqes[:])] {
				c := int(q.UserData) - 100
				if c < 0 || c >= conns {
					t.Fatalf("completion %+v", q)
				}
				if !q.More() {
					r.SQE().PrepRecvMultishot(fds[c], 3, q.UserData) // ENOBUFS, or ended
				}
				if q.Res <= 0 {
					continue
				}
				data, id, ok := br.Take(q)
				if !ok || len(data) != int(q.Res) {
					t.Fatalf("recv %+v: %d bytes, buffer %v", q, len(data), ok)
				}
				if id == lastID && c != lastConn && lastConn >= 0 {
					shared++
				}
				lastID, lastConn = id, c
				if !q.BufMore() {
					lastConn = -1 // the buffer is full: the next piece is in another
				}
				if c == 0 {
					held = append(held, piece{data, id, len(got[0])})
					got[0] = append(got[0], data...)
					if len(held) > 3 {
						release(held[0])
						held = held[1:]
					}
					continue
				}
				got[c] = append(got[c], data...)
				br.Recycle(id)
			}
		}
	}
	for _, p := range held {
		release(p)
	}
	for k := range conns {
		if !bytes.Equal(got[k], sent[k]) {
			t.Errorf("conn %d: %d bytes received, %d sent", k, len(got[k]), len(sent[k]))
		}
	}
	if checked != len(sent[0]) {
		t.Errorf("checked %d of conn 0's %d bytes", checked, len(sent[0]))
	}
	if shared == 0 {
		t.Error("no buffer carried pieces of two connections")
	}
	if br.InUse() != 0 {
		t.Errorf("%d buffers in use after every piece was given back", br.InUse())
	}
	t.Logf("%d bytes over %d connections, %d times a buffer passed from one connection to another", len(sent[0])+len(sent[1])+len(sent[2]), conns, shared)
}

// TestEnableNamesIssuer: a ring set up with SetupSingleIssuer and
// SetupRDisabled refuses submissions until Enable; the thread that
// enables it is the issuer from then on, and the kernel refuses
// submissions and registrations from any other (EEXIST).
func TestEnableNamesIssuer(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	r, err := New(8, 0, SetupSingleIssuer|SetupDeferTaskrun|SetupRDisabled)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Flags()&(SetupSingleIssuer|SetupRDisabled) != SetupSingleIssuer|SetupRDisabled {
		t.Skipf("flags %#x: the kernel has no single issuer", r.Flags())
	}
	br, err := r.NewBufRing(0, 4, 4096) // registering before Enable is anyone's
	if err != nil {
		t.Fatal(err)
	}
	r.SQE().PrepNop(1)
	if _, err := r.Submit(); !errors.Is(err, unix.EBADFD) {
		t.Fatalf("Submit before Enable: %v, want EBADFD", err)
	}
	issuer := make(chan func() error)
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := r.Enable()
		done <- err
		if err != nil {
			return
		}
		for f := range issuer {
			done <- f()
		}
	}()
	if err := <-done; err != nil {
		t.Fatalf("Enable: %v", err)
	}
	defer close(issuer)
	runtime.LockOSThread() // surely not the issuer's thread
	defer runtime.UnlockOSThread()
	if _, err := r.Submit(); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("Submit from another thread: %v, want EEXIST", err)
	}
	if err := br.Close(); !errors.Is(err, unix.EEXIST) {
		t.Fatalf("unregistering from another thread: %v, want EEXIST", err)
	}
	if !br.Mapped() {
		t.Fatal("buffers unmapped while still registered")
	}
	issuer <- func() error {
		_, err := r.SubmitAndWait(1, 5*time.Second)
		if err != nil {
			return err
		}
		var cqes [4]CQE
		if n := r.Reap(cqes[:]); n != 1 || cqes[0].UserData != 1 {
			return fmt.Errorf("reaped %d: %+v", n, cqes[:n])
		}
		return nil
	}
	if err := <-done; err != nil {
		t.Fatalf("the issuer's submission: %v", err)
	}
	issuer <- br.Close
	if err := <-done; err != nil || br.Mapped() {
		t.Fatalf("the issuer's unregistration: %v, still mapped %v", err, br.Mapped())
	}
}
