package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestBackloggedFlushSkipsFullSocket: while a connection's output waits
// in its queue for a peer that does not read, a handler's Flush adds its
// batch and leaves the sending to the poller's EPOLLOUT, instead of
// making a writev that the kernel refuses on every run. Once the peer
// reads, every byte arrives, in order: the skipped writes stalled
// nothing. Each trigger mode, on epoll and on io_uring with its sends
// through writev (UPOLL_URING_SEND=0) and through the ring (which makes
// no writev to refuse: there the test checks the stream only).
func TestBackloggedFlushSkipsFullSocket(t *testing.T) {
	for _, b := range testBackends(false) {
		sends := []string{"0"}
		if b == BackendUring {
			sends = append(sends, "1")
		}
		for _, send := range sends {
			for _, trig := range allTriggers {
				name := fmt.Sprintf("%v/%v", b, trig)
				if b == BackendUring {
					name += "/send=" + send
				}
				t.Run(name, func(t *testing.T) {
					t.Setenv("UPOLL_URING_SEND", send)
					testBackloggedFlush(t, b, trig)
				})
			}
		}
	}
}

const (
	backlogFill  = 40       // input bytes sent at once, first
	backlogMsgs  = 240      // input bytes in all; the rest sent one at a time
	backlogChunk = 32 << 10 // output per input byte
)

// backlogByte is the content of the answer to input byte i.
func backlogByte(i int) byte { return byte(i%251 + 1) }

func testBackloggedFlush(t *testing.T, b Backend, trig Trigger) {
	var runs, seen atomic.Int64
	conns := make(chan *Conn, 1)
	h := func(c *Conn) error {
		runs.Add(1)
		r, w := c.Reader(), c.Writer()
		n := r.Len()
		if n == 0 {
			return nil
		}
		if _, err := r.Next(n); err != nil {
			return err
		}
		if err := r.Release(); err != nil {
			return err
		}
		for range n {
			i := int(seen.Add(1) - 1)
			buf, err := w.Malloc(backlogChunk)
			if err != nil {
				return err
			}
			for j := range buf {
				buf[j] = backlogByte(i)
			}
		}
		return w.Flush()
	}
	s, addr := startServer(t, h, WithBackend(b), WithTrigger(trig), WithMaxOutput(64<<20),
		WithOnConnect(func(c *Conn) {
			if err := c.SetWriteBuffer(16 << 10); err != nil {
				t.Errorf("SetWriteBuffer: %v", err)
			}
			conns <- c
		}))
	cl := dialTCP(t, addr)
	// Fill the sockets first (the client's receive window, a few hundred
	// KiB while it reads nothing, and the server's small send buffer),
	// so that every later run finds the output backlogged.
	if _, err := cl.Write(make([]byte, backlogFill)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	before := s.Stats()
	runs0 := runs.Load()
	for range backlogMsgs - backlogFill {
		if _, err := cl.Write([]byte{0}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// Every input byte has had its run (bounded wait).
	deadline := time.Now().Add(10 * time.Second)
	for seen.Load() < backlogMsgs && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := seen.Load(); got != backlogMsgs {
		t.Fatalf("the handler saw %d input bytes of %d", got, backlogMsgs)
	}
	after := s.Stats()
	n := runs.Load() - runs0
	eagain := after.WriteEAGAIN - before.WriteEAGAIN
	t.Logf("%d runs with the output backlogged: %d writes refused, %d write calls",
		n, eagain, after.WriteCalls-before.WriteCalls)
	if n < backlogMsgs/4 {
		t.Fatalf("only %d runs for %d input bytes sent apart: the test did not make the runs it needs", n, backlogMsgs-backlogFill)
	}
	if eagain > uint64(n)/10+5 {
		t.Errorf("%d writes refused in %d runs with the output backlogged: a Flush wrote to a full socket on most runs", eagain, n)
	}
	// What waits is counted in the buffer budget's figure, as sent
	// output is (a Flush that leaves its batch to the poller counts it).
	var st Stats
	if !testutil.WaitFor(5*time.Second, func() bool {
		st = s.Stats()
		return uint64(st.BufferedOut)+st.BytesOut == backlogMsgs*backlogChunk
	}) {
		t.Errorf("BufferedOut %d + BytesOut %d, want the %d bytes answered", st.BufferedOut, st.BytesOut, backlogMsgs*backlogChunk)
	}
	// Now read everything: the poller sends the queue on EPOLLOUT (a
	// send buffer of a few KiB would take seconds for it).
	if err := recvConn(t, conns).SetWriteBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	cl.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, backlogMsgs*backlogChunk)
	if m, err := io.ReadFull(cl, got); err != nil {
		t.Fatalf("reading the %d bytes queued: %v after %d; stats %+v", len(got), err, m, s.Stats())
	}
	for i := range backlogMsgs {
		chunk := got[i*backlogChunk : (i+1)*backlogChunk]
		if want := bytes.Repeat([]byte{backlogByte(i)}, backlogChunk); !bytes.Equal(chunk, want) {
			t.Fatalf("answer %d differs", i)
		}
	}
}

// TestFlagBitsDistinct: the bits of Conn.flags, declared across the
// package's files, are single bits and no two are the same.
func TestFlagBitsDistinct(t *testing.T) {
	bits := map[string]uint32{
		"fRegistered": fRegistered, "fPeerEOF": fPeerEOF, "fBroken": fBroken,
		"fWrShut": fWrShut, "fInPaused": fInPaused, "fConnecting": fConnecting,
		"fReaderWaiting": fReaderWaiting, "fConnectHook": fConnectHook,
		"fLinger": fLinger, "fLingerDone": fLingerDone, "fUnix": fUnix,
		"fBudgetPaused": fBudgetPaused, "fLeftInput": fLeftInput,
		"fMaskStale": fMaskStale, "fSending": fSending, "fFlushQueued": fFlushQueued,
		"fShutPending": fShutPending, "fWriterWaiting": fWriterWaiting,
		"fTCP4": fTCP4, "fTCP6": fTCP6, "fRoomWait": fRoomWait, "fHeld": fHeld,
		"fOutBlocked": fOutBlocked, "fBrokenTold": fBrokenTold,
		"fShutAsked": fShutAsked, "fHookAhead": fHookAhead,
		"fPeerReadShut": fPeerReadShut, "fTotalDue": fTotalDue, "fDead": fDead,
		"fFileTaken": fFileTaken, "fConnectTaken": fConnectTaken, "fOutFull": fOutFull,
	}
	owner := map[uint32]string{}
	for name, b := range bits {
		if b == 0 || b&(b-1) != 0 {
			t.Errorf("%s = %#x is not a single bit", name, b)
		}
		if other, ok := owner[b]; ok {
			t.Errorf("%s and %s are the same bit %#x", name, other, b)
		}
		owner[b] = name
	}
}
