package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/internal/uring"
)

// uringLentHeld sums the pieces of the buffer group that the
// registered connections of s hold in their LinkBuffers without a copy,
// and returns the most one of them holds.
func uringLentHeld(s *Server) (total, most int) {
	for _, p := range s.pollers {
		u := p.ep.ur
		u.mu.Lock()
		for _, reg := range u.regs {
			if reg != nil && reg.lent != nil {
				h := int(reg.lent.held.Load())
				total += h
				most = max(most, h)
			}
		}
		u.mu.Unlock()
	}
	return total, most
}

// keeper is a handler that keeps every message it receives as a Slice
// of its connection's input and acknowledges it with one byte.
type keeper struct {
	mu     sync.Mutex
	kept   []*buffer.LinkBuffer
	msgLen int
}

func (k *keeper) handle(c *Conn) error {
	r, w := c.Reader(), c.Writer()
	for r.Len() >= k.msgLen {
		b, err := r.Slice(k.msgLen)
		if err != nil {
			return err
		}
		k.mu.Lock()
		k.kept = append(k.kept, b)
		k.mu.Unlock()
		w.WriteByte('k')
	}
	r.Release()
	return w.Flush()
}

// check compares every kept message with what was sent and closes it.
func (k *keeper) check(t *testing.T, sent map[string]bool) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, b := range k.kept {
		p, err := b.Next(b.Len())
		if err != nil || !sent[string(p)] {
			t.Errorf("kept message %d reads %q, %v: not one that was sent", i, p[:min(len(p), 16)], err)
		}
		b.Close()
	}
	k.kept = nil
}

// sendAcked writes n messages of size bytes on c, each waiting for its
// acknowledgement, and records them in sent.
func sendAcked(t *testing.T, c io.ReadWriter, tag, n, size int, sent map[string]bool, mu *sync.Mutex) {
	t.Helper()
	ack := make([]byte, 1)
	for i := range n {
		msg := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		copy(msg, fmt.Sprintf("%d/%d|", tag, i))
		mu.Lock()
		sent[string(msg)] = true
		mu.Unlock()
		if _, err := c.Write(msg); err != nil {
			t.Errorf("conn %d write %d: %v", tag, i, err)
			return
		}
		if _, err := io.ReadFull(c, ack); err != nil {
			t.Errorf("conn %d ack %d: %v", tag, i, err)
			return
		}
	}
}

// A handler keeps Slices of its input past the close of its connection
// and of the server: the ring's buffers stay mapped, the bytes intact,
// until the last piece is released. Unmapped at the server's close, the
// reads of the slices below fault.
func TestUringZeroCopySliceOutlivesServer(t *testing.T) {
	needUring(t)
	t.Setenv(uringZCEnv, "1")
	k := &keeper{msgLen: 100}
	s, err := NewServer(k.handle, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(1))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	var brs []*uring.BufRing
	for _, p := range s.pollers {
		brs = append(brs, p.ep.ur.br)
	}
	sent := map[string]bool{}
	var mu sync.Mutex
	c := dialTCP(t, ln.Addr().String())
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sendAcked(t, c, 0, 10, 100, sent, &mu)
	held, _ := uringLentHeld(s)
	if held == 0 {
		t.Fatalf("no piece held without a copy after 10 kept messages (zero copy not used): %+v", s.Stats().PollerStats)
	}
	t.Logf("pieces held by the connection: %d", held)
	c.Close()
	s.Close()
	for _, br := range brs {
		if !br.Mapped() {
			t.Fatal("the buffer group was unmapped while a Slice holds its pieces")
		}
	}
	k.check(t, sent)
	for _, br := range brs {
		if br.Mapped() {
			t.Error("the buffer group is still mapped after every piece was released")
		}
	}
}

// keepOrEcho serves the connections whose first byte is 'E' as echo,
// and keeps the input of the others (k).
func keepOrEcho(k *keeper) Handler {
	return func(c *Conn) error {
		r := c.Reader()
		if c.Context() == nil {
			b, err := r.Peek(1)
			if err != nil {
				return nil
			}
			c.SetContext(b[0] == 'E')
		}
		if c.Context().(bool) {
			return echoHandler(c)
		}
		return k.handle(c)
	}
}

// echoFor exchanges n messages of 64 bytes on a connection to addr,
// each checked, until stop or the end.
func echoFor(t *testing.T, addr string, n int) {
	t.Helper()
	c := dialTCP(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	msg := bytes.Repeat([]byte{'E'}, 64)
	got := make([]byte, 64)
	for i := range n {
		msg[1] = byte(i)
		if _, err := c.Write(msg); err != nil {
			t.Errorf("echo write %d: %v", i, err)
			return
		}
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("echo %d: %q, %v", i, got, err)
			return
		}
	}
}

// One connection whose handler keeps all its input holds at most
// uringMaxLent pieces of the group (the rest is copied), and the other
// connections are served all along. Without the bound (uringMaxLent
// raised past 200) it held 200 pieces and the test printed so.
func TestUringZeroCopyHolderBounded(t *testing.T) {
	needUring(t)
	t.Setenv(uringZCEnv, "1")
	k := &keeper{msgLen: 1000}
	s, addr := startServer(t, keepOrEcho(k), WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(1))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			echoFor(t, addr, 300)
		}()
	}
	sent := map[string]bool{}
	var mu sync.Mutex
	c := dialTCP(t, addr)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	sendAcked(t, c, 0, 200, 1000, sent, &mu)
	total, most := uringLentHeld(s)
	t.Logf("pieces held: %d, by the keeping connection %d; buffers in use %d", total, most, s.Stats().BuffersInUse)
	if most == 0 {
		t.Errorf("no piece held without a copy: zero copy not used")
	}
	if most > 16 { // uringMaxLent; a literal, so that raising it fails here
		t.Errorf("one connection holds %d pieces of the group, bound 16", most)
	}
	testutil.WaitGroup(t, &wg, 30*time.Second, "echo connections")
	k.check(t, sent)
	c.Close()
	if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BuffersInUse == 0 }) {
		t.Errorf("%d buffers still in use after every kept message was released", s.Stats().BuffersInUse)
	}
}

// Many connections that keep their input, each piece a whole buffer
// (UPOLL_URING_INC=0): together they hold at most half the group, the
// rest is copied, and every connection is served. Without the group's
// bound 40 connections held 40×16 = 640 pieces of a group of 512: the
// receives ran dry and fell back to readv for good.
func TestUringZeroCopyGroupBounded(t *testing.T) {
	needUring(t)
	t.Setenv(uringZCEnv, "1")
	t.Setenv(uringIncEnv, "0")
	const conns, msgs = 40, 20
	k := &keeper{msgLen: 100}
	s, addr := startServer(t, keepOrEcho(k), WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(1))
	sent := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var cs []io.Closer
	for i := range conns {
		c := dialTCP(t, addr)
		c.SetDeadline(time.Now().Add(30 * time.Second))
		cs = append(cs, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sendAcked(t, c, i, msgs, 100, sent, &mu)
		}()
	}
	testutil.WaitGroup(t, &wg, 40*time.Second, "keeping connections")
	total, most := uringLentHeld(s)
	inUse := int(s.Stats().BuffersInUse)
	t.Logf("pieces held: %d (most by one connection %d), buffers in use %d, of %d", total, most, inUse, uringBufs)
	if half := uringBufs / 2; total > half+1 || inUse > half+1 { // uringMaxLentGroup
		t.Errorf("connections hold %d pieces, %d buffers in use; the group's bound is %d", total, inUse, half)
	}
	echoFor(t, addr, 50)
	k.check(t, sent)
	for _, c := range cs {
		c.Close()
	}
}

// The input bound counts the pieces linked without a copy: a connection
// whose handler does not read holds at most MaxInput plus one piece.
func TestUringZeroCopyInputBound(t *testing.T) {
	needUring(t)
	skipInline(t) // the handler waits to be released
	t.Setenv(uringZCEnv, "1")
	const bound, size = 16 << 10, 1 << 20
	release := make(chan struct{})
	var first atomic.Int64
	var got bytes.Buffer
	var n atomic.Int64
	h := func(c *Conn) error {
		select {
		case <-release:
		case <-time.After(20 * time.Second):
			return fmt.Errorf("never released")
		}
		r := c.Reader()
		first.CompareAndSwap(0, int64(r.Len()))
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		got.Write(b)
		n.Add(int64(len(b)))
		return r.Release()
	}
	s, addr := startServer(t, h, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithMaxInput(bound))
	src := testutil.RandomBytes(9, size)
	c := dialTCP(t, addr)
	go func() {
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		c.Write(src)
	}()
	if !testutil.WaitFor(10*time.Second, func() bool { return s.Stats().PausedByBound == 1 }) {
		t.Fatalf("not paused at the bound: %+v", s.Stats().PollerStats)
	}
	_, most := uringLentHeld(s)
	close(release)
	if !testutil.WaitFor(30*time.Second, func() bool { return n.Load() == size }) {
		t.Fatalf("received %d of %d", n.Load(), size)
	}
	t.Logf("held at the bound: %d bytes, %d pieces without a copy", first.Load(), most)
	if first.Load() > bound+uringBufSize {
		t.Errorf("a paused connection held %d bytes, bound %d + one piece", first.Load(), bound)
	}
	if most == 0 {
		t.Errorf("no piece held without a copy: zero copy not used")
	}
	if !bytes.Equal(got.Bytes(), src) {
		t.Error("bytes differ from what was sent")
	}
}
