package netpoll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/internal/uring"
	"golang.org/x/sys/unix"
)

// needUring skips a test of BackendUring's own machinery where io_uring
// cannot be used, and when UPOLL names a backend (the second and third
// passes of scripts/test.sh): such a test asks for io_uring itself
// (WithBackend, its rings), whatever UPOLL says, so the pass without
// UPOLL has run it.
func needUring(t testing.TB) {
	t.Helper()
	if err := uring.Available(); err != nil {
		t.Skipf("io_uring: %v", err)
	}
	if b, ok := envBackend(); ok {
		t.Skipf("UPOLL names backend %v: this test names io_uring itself and ran in the pass without UPOLL", b)
	}
}

// uringMoved sums the receives the pollsets of s moved to their pinned
// leader's thread.
func uringMoved(s *Server) uint64 {
	var n uint64
	for _, p := range s.pollers {
		n += p.ep.ur.moved.Load()
	}
	return n
}

// uringStats sums what the uring pollsets of s counted beyond Stats.
func uringEnded(s *Server) uint64 {
	var n uint64
	for _, p := range s.pollers {
		n += p.ep.ur.ended.Load()
	}
	return n
}

func TestUringConfig(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "") // the backend's own defaults, whatever UPOLL asks for
	s, err := NewServer(echoHandler, WithBackend(BackendUring))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cfg := s.Config()
	if cfg.Backend != BackendUring || cfg.Trigger != EdgeTriggered || !strings.HasPrefix(cfg.String(), "backend=uring,") {
		t.Fatalf("config %v", cfg.String())
	}
	s2, err := NewServer(echoHandler, WithBackend(BackendUring), WithTrigger(OneShot))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Config().Trigger != OneShot {
		t.Fatalf("an explicit trigger was replaced: %v", s2.Config().String())
	}
	var b Backend
	if err := b.UnmarshalText([]byte("io_uring")); err != nil || b != BackendUring {
		t.Fatalf("io_uring parses as %v, %v", b, err)
	}
}

// TestUringBufferRingExhausted blocks the only poller in a handler
// while eight peers send 512 KiB each: the kernel fills every provided
// buffer, the receives end with ENOBUFS, and every byte still arrives,
// in order, through the fallback reads; no buffer stays out.
func TestUringBufferRingExhausted(t *testing.T) {
	needUring(t)
	const peers, size = 8, 512 << 10
	var block sync.Once
	unblock := make(chan struct{})
	var mu sync.Mutex
	crcs := make(map[*Conn]uint32)
	counts := make(map[*Conn]int)
	var done atomic.Int32
	h := func(c *Conn) error {
		r := c.Reader()
		block.Do(func() {
			select {
			case <-unblock:
			case <-time.After(10 * time.Second):
			}
		})
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		mu.Lock()
		crcs[c] = crc32.Update(crcs[c], crc32.IEEETable, b)
		counts[c] += len(b)
		if counts[c] == size {
			done.Add(1)
		}
		mu.Unlock()
		return r.Release()
	}
	s, addr := startServer(t, h, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(1), WithDispatch(DispatchInline), WithMaxInput(4<<20))
	want := make(map[uint32]bool)
	var wg sync.WaitGroup
	for i := range peers {
		src := testutil.RandomBytes(uint64(i+1), size)
		want[crc32.ChecksumIEEE(src)] = true
		c := dialTCP(t, addr)
		if i == 0 {
			c.Write(src[:1]) // the first handler run blocks the poller
			src = src[1:]
			time.Sleep(50 * time.Millisecond)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			c.Write(src)
		}()
	}
	time.Sleep(300 * time.Millisecond) // the kernel fills the buffers
	close(unblock)
	testutil.WaitGroup(t, &wg, 30*time.Second, "peers' writes")
	if !testutil.WaitFor(30*time.Second, func() bool { return done.Load() == peers }) {
		t.Fatalf("%d of %d peers fully received: %+v", done.Load(), peers, s.Stats().PollerStats)
	}
	mu.Lock()
	for c, crc := range crcs {
		if !want[crc] {
			t.Errorf("conn %p: crc %08x matches no peer's stream", c, crc)
		}
	}
	mu.Unlock()
	st := s.Stats()
	t.Logf("receives ended %d, read calls %d, buffers in use %d", uringEnded(s), st.ReadCalls, st.BuffersInUse)
	if uringEnded(s) == 0 {
		t.Errorf("no receive ended: the buffer ring was never exhausted")
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BuffersInUse == 0 }) {
		t.Errorf("%d buffers still in use", s.Stats().BuffersInUse)
	}
}

// TestUringManySmallMessages: 1,000 connections, each with a receive
// armed, send a 64 B message each while the only poller is blocked in a
// handler, so that every message waits in the buffer group at once. On
// an incremental group (Linux 6.12+) they take 64 KiB of its 2 MiB and no
// receive ends; with whole buffers (UPOLL_URING_INC=0) the 512 buffers
// run dry, receives end with ENOBUFS and the rest comes by readv. Either
// way every connection gets its own message back, and no buffer stays
// out.
func TestUringManySmallMessages(t *testing.T) {
	needUring(t)
	for _, inc := range []bool{true, false} {
		t.Run(fmt.Sprintf("incremental=%v", inc), func(t *testing.T) {
			if !inc {
				t.Setenv(uringIncEnv, "0")
			}
			testUringManySmallMessages(t, inc)
		})
	}
}

func testUringManySmallMessages(t *testing.T, inc bool) {
	const conns, size = 1000, 64
	var block atomic.Bool
	unblock := make(chan struct{})
	h := func(c *Conn) error {
		if block.CompareAndSwap(true, false) {
			select {
			case <-unblock:
			case <-time.After(10 * time.Second):
			}
		}
		return echoHandler(c)
	}
	s, addr := startServer(t, h, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(1), WithDispatch(DispatchInline))
	if got := s.pollers[0].ep.ur.br.Incremental(); got != inc {
		if inc {
			t.Skip("the kernel lacks IOU_PBUF_RING_INC (Linux 6.12+)")
		}
		t.Fatalf("incremental %v with %s=0", got, uringIncEnv)
	}
	cs := make([]*net.TCPConn, conns)
	msg := func(i, round int) []byte {
		return testutil.RandomBytes(uint64(i*2+round+1), size)
	}
	echo := func(i, round int) error {
		want := msg(i, round)
		got := make([]byte, size)
		cs[i].SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(cs[i], got); err != nil {
			return fmt.Errorf("conn %d round %d: %w", i, round, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("conn %d round %d: got another message back", i, round)
		}
		return nil
	}
	// Round 0 arms every connection's receive (its first read is readv).
	for i := range cs {
		cs[i] = dialTCP(t, addr)
		if _, err := cs[i].Write(msg(i, 0)); err != nil {
			t.Fatal(err)
		}
		if err := echo(i, 0); err != nil {
			t.Fatal(err)
		}
	}
	endedBefore := uringEnded(s)
	block.Store(true)
	if _, err := cs[0].Write(msg(0, 1)); err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return !block.Load() }) {
		t.Fatal("the handler did not block")
	}
	for i := 1; i < conns; i++ {
		if _, err := cs[i].Write(msg(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // the kernel receives them all
	readsBefore := s.Stats().ReadCalls
	close(unblock)
	for i := range cs {
		if err := echo(i, 1); err != nil {
			t.Fatalf("%v: %+v", err, s.Stats().PollerStats)
		}
	}
	ended := uringEnded(s) - endedBefore
	t.Logf("incremental %v: %d receives ended, %d readv calls after", inc, ended, s.Stats().ReadCalls-readsBefore)
	if inc && ended != 0 {
		t.Errorf("%d receives ended on an incremental group of %d buffers for %d B of input", ended, uringBufs, conns*size)
	}
	// On a single-issuer ring (UPOLL=wait=block) the receives' task work
	// waits for the stalled leader, which then runs it inside its enters
	// while its handlers give buffers back: there the group was not seen
	// to run dry (0 receives ended, 488 without the single issuer), so
	// only the echoes and the buffers are checked.
	if !inc && ended == 0 && !s.pollers[0].ep.ur.single {
		t.Errorf("no receive ended: %d whole buffers served %d connections", uringBufs, conns)
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BuffersInUse == 0 }) {
		t.Errorf("%d buffers still in use", s.Stats().BuffersInUse)
	}
}

// TestUringReceivesFollowLeader: the leader is pinned to its thread, and
// the receives armed under one leader are moved to the next after a
// hand-off (a handler that sleeps passes the duty to a goroutine on
// another thread): each connection's receive once, on its next input
// once the new leader has held the duty for uringSettleTime, its stream
// intact; later input moves nothing more while the leader stays.
func TestUringReceivesFollowLeader(t *testing.T) {
	needUring(t)
	const conns, rounds = 20, 5
	h := func(c *Conn) error {
		r := c.Reader()
		if b, _ := r.Peek(1); len(b) == 1 && b[0] == 'S' {
			time.Sleep(30 * time.Millisecond) // the duty passes on
		}
		return echoHandler(c)
	}
	s, addr := startServer(t, h, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(1), WithDispatch(DispatchHandoff))
	u := s.pollers[0].ep.ur
	if !u.lockOn {
		t.Skipf("%s=0", uringLockEnv)
	}
	cs := make([]*net.TCPConn, conns)
	msg := make([]byte, 64)
	echo := func(i int, first byte) {
		t.Helper()
		msg[0] = first
		if _, err := cs[i].Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		cs[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(cs[i], got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("conn %d: %q, %v", i, got, err)
		}
	}
	for i := range cs {
		cs[i] = dialTCP(t, addr)
		echo(i, 'a')
	}
	u.mu.Lock()
	tid := u.tid
	u.mu.Unlock()
	handoffs := s.Stats().Handoffs
	echo(0, 'S')
	if s.Stats().Handoffs == handoffs {
		t.Fatal("the sleeping handler passed no duty on")
	}
	time.Sleep(2 * uringSettleTime)
	u.mu.Lock()
	newTid := u.tid
	u.mu.Unlock()
	onlyOne := func() {
		if n := s.Stats().Handoffs - handoffs; n != 1 {
			// A handler run preempted past the watchdog's tick (a
			// loaded machine) passed the duty again: the leader may be
			// back on the first thread, or not settled, and the counts
			// below would say nothing.
			t.Skipf("%d hand-offs instead of 1", n)
		}
	}
	onlyOne()
	if newTid == 0 || newTid == tid {
		t.Fatalf("leader thread %d before the hand-off, %d after", tid, newTid)
	}
	before := uringMoved(s)
	for i := range cs {
		echo(i, 'b')
	}
	moved := uringMoved(s) - before
	onlyOne()
	for range rounds {
		for i := range cs {
			echo(i, 'c')
		}
	}
	again := uringMoved(s) - before - moved
	st := s.Stats()
	t.Logf("leader thread %d -> %d; %d receives moved, %d later; handoffs %d, ended %d", tid, newTid, moved, again, st.Handoffs-handoffs, uringEnded(s))
	if moved < conns/2 {
		t.Errorf("%d of %d receives moved to the new leader's thread", moved, conns)
	}
	// (A later hand-off would rightly move them again.)
	if st.Handoffs == handoffs+1 && again != 0 {
		t.Errorf("%d receives moved again with the leader unchanged", again)
	}
}

// TestUringPausedReceiveCancelled: a connection at its input bound is
// not read, so its receive is cancelled once it holds uringMaxStash
// buffers (or ends when the ring runs dry first: the kernel fills
// buffers as fast as loopback delivers); when the handler drains, the
// rest comes from the socket and the receive is armed again.
func TestUringPausedReceiveCancelled(t *testing.T) {
	needUring(t)
	skipInline(t) // the handler waits to be released
	const size = 4 << 20
	release := make(chan struct{})
	var got bytes.Buffer
	var mu sync.Mutex
	var n atomic.Int64
	h := func(c *Conn) error {
		select {
		case <-release:
		case <-time.After(20 * time.Second):
			return errors.New("never released")
		}
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		mu.Lock()
		got.Write(b)
		mu.Unlock()
		n.Add(int64(len(b)))
		return r.Release()
	}
	// Edge-triggered: the receive is that trigger's (a UPOLL trigger
	// override would leave no receive to cancel).
	s, addr := startServer(t, h, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithMaxInput(64<<10))
	src := testutil.RandomBytes(7, size)
	c := dialTCP(t, addr)
	go func() {
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		c.Write(src)
	}()
	if !testutil.WaitFor(10*time.Second, func() bool { return s.Stats().PausedByBound == 1 }) {
		t.Fatalf("not paused at the bound: %+v", s.Stats().PollerStats)
	}
	// The paused connection's receive ends (cancelled at the stash
	// bound, or the ring ran dry): the rest of the stream waits in the
	// socket.
	if !testutil.WaitFor(10*time.Second, func() bool { return uringEnded(s) > 0 }) {
		t.Fatalf("the receive of a paused connection goes on: %+v", s.Stats().PollerStats)
	}
	t.Logf("paused: %d buffers held", s.Stats().BuffersInUse)
	close(release)
	if !testutil.WaitFor(30*time.Second, func() bool { return n.Load() == size }) {
		t.Fatalf("received %d of %d: %+v", n.Load(), size, s.Stats().PollerStats)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(got.Bytes(), src) {
		t.Fatal("bytes differ from what was sent")
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BuffersInUse == 0 }) {
		t.Errorf("%d buffers still in use", s.Stats().BuffersInUse)
	}
}

// TestUringConnectCloseCycles: 10,000 (1,000 with -short) connections
// each exchange a message and close; no descriptor, goroutine or
// buffer is left, and every connection was deregistered.
func TestUringConnectCloseCycles(t *testing.T) {
	needUring(t)
	cycles := 10000
	if testing.Short() {
		cycles = 1000
	}
	var bufsBefore int64
	testutil.CheckLeaks(t)
	s, addr := startServer(t, echoHandler, WithBackend(BackendUring))
	bufsBefore = s.Stats().BuffersInUse
	msg := []byte("ping")
	buf := make([]byte, len(msg))
	deadline := time.Now().Add(3 * time.Minute)
	done := 0
	for ; done < cycles && time.Now().Before(deadline); done++ {
		c := dialTCP(t, addr)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("cycle %d: %v", done, err)
		}
		if done%2 == 0 {
			c.SetLinger(0) // half of them end with a reset
		}
		c.Close()
	}
	if done < cycles {
		t.Fatalf("only %d of %d cycles in 3 minutes", done, cycles)
	}
	if !testutil.WaitFor(10*time.Second, func() bool {
		st := s.Stats()
		return st.LiveConns == 0 && st.BuffersInUse == bufsBefore
	}) {
		t.Fatalf("after %d cycles: %+v", cycles, s.Stats().PollerStats)
	}
	for _, p := range s.pollers {
		p.ep.ur.mu.Lock()
		live := 0
		for _, reg := range p.ep.ur.regs {
			if reg != nil {
				live++
			}
		}
		p.ep.ur.mu.Unlock()
		p.lmu.Lock()
		for _, a := range p.listeners {
			if a != nil {
				live-- // the listening socket
			}
		}
		p.lmu.Unlock()
		if live > 0 {
			t.Errorf("poller %d: %d registrations left after every connection closed", p.id, live)
		}
	}
	st := s.Stats()
	t.Logf("%d cycles: submissions %d, completions %d, enters %d", cycles, st.Submissions, st.Completions, st.Enters)
}

// TestUringUnavailable: where io_uring is refused, asking for it fails
// at NewServer, Listen and Dial with ErrBackendUnavailable naming the
// cause, and the default backend is untouched.
func TestUringUnavailable(t *testing.T) {
	cause := fmt.Errorf("%w: sysctl kernel.io_uring_disabled=2 (io_uring_setup: EPERM)", uring.ErrUnavailable)
	saved := uringAvailable
	uringAvailable = func() error { return cause }
	defer func() { uringAvailable = saved }()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrBackendUnavailable) || !strings.Contains(err.Error(), "io_uring_disabled=2") {
			t.Errorf("%s: %v; want ErrBackendUnavailable naming the cause", what, err)
		}
	}
	_, err := NewServer(echoHandler, WithBackend(BackendUring))
	check("NewServer", err)
	_, err = Listen("tcp", "127.0.0.1:0", WithBackend(BackendUring))
	check("Listen", err)
	d := Dialer{Options: []Option{WithBackend(BackendUring)}}
	_, err = d.DialContext(context.Background(), "tcp", "127.0.0.1:1")
	check("Dial", err)
	if cfg, err := buildConfig([]Option{WithBackend(BackendDefault)}, true); err != nil || cfg.Backend != BackendEpoll {
		t.Errorf("the default backend is %v, %v; want epoll", cfg.Backend, err)
	}
}

// ringConn returns the only connection of s's pollers, or nil.
func ringConn(s *Server) *Conn {
	var found *Conn
	for _, p := range s.pollers {
		p.reg.each(func(c *Conn) { found = c })
	}
	return found
}

// TestUringSendsThroughRing: with sends through the ring, a handler's
// Flush on the poller's leader queues a SEND instead of calling writev,
// and the echoed streams come back whole and in order, small messages
// and 256 KiB ones (several vectors, short completions resumed).
func TestUringSendsThroughRing(t *testing.T) {
	needUring(t)
	t.Setenv(uringSendEnv, "1")
	testutil.CheckLeaks(t)
	// Sends go through the ring from handlers run by the leader: the
	// default dispatch and trigger of this backend, asked for so that
	// UPOLL cannot change them.
	s, addr := startServer(t, echoHandler, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithDispatch(DispatchHandoff))
	const clients, rounds = 4, 200
	echoClients(t, addr, clients, rounds)
	st := s.Stats()
	runs := st.HandlerRuns
	// A Flush that the watchdog caught outside its handler's leader (a
	// slow run under -race) still writes with writev: most must not.
	if runs == 0 || st.WriteCalls*4 > runs || st.Submissions < runs/2 {
		t.Fatalf("%d handler runs, %d writev calls, %d submissions: the sends did not go through the ring", runs, st.WriteCalls, st.Submissions)
	}
	t.Logf("small echoes: %d handler runs, %d writev, %d submissions, %d io_uring_enter", runs, st.WriteCalls, st.Submissions, st.Enters)

	bigEcho(t, addr)
}

// TestUringSendingBound: a poller's ring sends in flight hold at most
// uringSendingMax bytes; output beyond that is written with writev at
// once. Eight peers that read little are each answered 64 KiB twice, in
// two pieces (a ring send of two vectors): the first answer fills each
// socket, and the second Flush would send about 118 KiB through the
// ring for each peer at once. Before, every such send went through the
// ring, and a bulk echo to a thousand connections held the memory
// budget full of nodes that epoll frees at once (TestHostilePeers' RSS
// under io_uring: 63-70 MiB against Go's 18).
func TestUringSendingBound(t *testing.T) {
	needUring(t)
	t.Setenv(uringSendEnv, "1")
	testutil.CheckLeaks(t)
	var mu sync.Mutex
	var sends, vectored, most int
	hook := func(vecs [][]byte, sending int) {
		mu.Lock()
		defer mu.Unlock()
		sends++
		if len(vecs) > 1 {
			vectored++
		}
		most = max(most, sending+vecsLen(vecs))
	}
	testHookRingSend.Store(&hook)
	t.Cleanup(func() { testHookRingSend.Store(nil) })
	const peers, answer = 8, 64 << 10
	var taken atomic.Int64 // input bytes the handlers took
	s, addr := startServer(t, func(c *Conn) error {
		r, w := c.Reader(), c.Writer()
		taken.Add(int64(r.Len()))
		r.Skip(r.Len())
		r.Release()
		rest := buffer.New()
		rest.WriteBinary(make([]byte, answer-1))
		rest.Flush()
		w.WriteBinary([]byte{1})
		if err := w.Append(rest); err != nil {
			return err
		}
		return w.Flush()
	}, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithDispatch(DispatchHandoff), WithPollers(1),
		// Room for both answers queued: a Flush past MaxOutput would
		// wait for room, and the watchdog would take the leader away.
		WithMaxOutput(4<<20),
		WithOnConnect(func(c *Conn) {
			unix.SetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<10)
		}))
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		// A small receive window from the start: the peer takes few bytes.
		return rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<10)
		})
	}}
	cls := make([]net.Conn, peers)
	for i := range cls {
		cl, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cl.Close() })
		cl.Write([]byte("x"))
		cls[i] = cl
	}
	// Every first message taken before the second is sent: a run counts
	// in HandlerRuns before its handler takes the input, and a run that
	// starts late (the first of a connection, which OnConnect's run may
	// make on the pool beside the leader) would take both messages at
	// once and answer once.
	if !testutil.WaitFor(10*time.Second, func() bool { return taken.Load() >= peers }) {
		t.Fatalf("%d of %d first messages handled", taken.Load(), peers)
	}
	for _, cl := range cls {
		cl.Write([]byte("y"))
	}
	// Every answer given: the buffered output is both answers less what
	// the sockets took, and stays so.
	if !testutil.WaitFor(10*time.Second, func() bool {
		st := s.Stats()
		return st.HandlerRuns >= 2*peers && st.BufferedOut > peers*answer
	}) {
		t.Fatalf("the second answers were not all queued: %+v", s.Stats().PollerStats)
	}
	st := s.Stats()
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d ring sends (%d of several vectors), at most %d B in flight; %d writev calls; %d B queued",
		sends, vectored, most, st.WriteCalls, st.BufferedOut)
	if most > uringSendingMax {
		t.Fatalf("ring sends held %d B in flight, more than uringSendingMax (%d)", most, uringSendingMax)
	}
	if vectored == 0 {
		t.Fatalf("none of %d ring sends had several vectors", sends)
	}
}

// TestUringSendInFlight: a send that waits in the kernel for room (the
// peer reads nothing) owns the head of the outbound buffer until its
// completion; a peer's reset ends it with the error that breaks and
// closes the connection, and Server.Close cancels it: either way the
// connection is freed, its descriptor closed, nothing leaks.
func TestUringSendInFlight(t *testing.T) {
	needUring(t)
	t.Setenv(uringSendEnv, "1")
	for _, end := range []string{"reset", "server-close"} {
		t.Run(end, func(t *testing.T) {
			testutil.CheckLeaks(t)
			disc := make(chan error, 1)
			s, addr := startServer(t, func(c *Conn) error {
				// A small answer to each message: the sends complete
				// until the socket is full, then one waits in the
				// kernel.
				c.Reader().Skip(c.Reader().Len())
				c.Reader().Release()
				w := c.Writer()
				if _, err := w.WriteBinary(make([]byte, 1<<10)); err != nil {
					return err
				}
				return w.Flush()
			}, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithDispatch(DispatchHandoff),
				WithOnConnect(func(c *Conn) {
					// A small send buffer (the kernel doubles it): the
					// socket fills after the client's receive window.
					unix.SetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<10)
				}),
				WithOnDisconnect(func(c *Conn, err error) { disc <- err }))
			cl := dialTCP(t, addr)
			var sc *Conn
			sending := func() bool { return sc != nil && sc.flags.Load()&fSending != 0 }
			if !testutil.WaitFor(10*time.Second, func() bool {
				cl.Write([]byte("b"))
				sc = ringConn(s)
				if !sending() {
					return false
				}
				// Waiting for room, not on its way: still in flight
				// a while later, with nothing sent meanwhile.
				out := s.Stats().BytesOut
				time.Sleep(20 * time.Millisecond)
				return sending() && s.Stats().BytesOut == out
			}) {
				t.Fatalf("no send in flight; stats %+v", s.Stats().PollerStats)
			}
			out := s.Stats().BufferedOut
			switch end {
			case "reset":
				cl.SetLinger(0)
				cl.Close()
				// The kernel reports a reset's error once, to the first
				// call that looks (sock_error clears it): when the send
				// in flight takes it, the receive the reset also ends
				// may see EOF, and be handled first (seen once in a CI
				// run). So nil is a correct reason here too; anything
				// else is not.
				err := testutil.Receive(t, disc, 5*time.Second, "OnDisconnect after the reset")
				if err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
					t.Fatalf("OnDisconnect err = %v; want the reset's ECONNRESET or EPIPE, or nil (EOF)", err)
				}
			case "server-close":
				s.Close()
				testutil.Receive(t, disc, 5*time.Second, "OnDisconnect after Server.Close")
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().LiveConns == 0 }) {
				t.Fatalf("the connection was not freed: %+v", s.Stats().PollerStats)
			}
			t.Logf("%d bytes queued, the send in flight's among them", out)
		})
	}
}

// TestUringListenerClose: closing a served Listener deletes its
// registration before the descriptor closes, and the socket stops
// listening. Under uring the registration was left (Serve's remove found
// the descriptor closed) and its poll request held the socket open: the
// descriptor number stayed registered, so a connection accepted later on
// that number would fail to register (EEXIST).
func TestUringListenerClose(t *testing.T) {
	needUring(t)
	testutil.CheckLeaks(t)
	s, err := NewServer(echoHandler, WithBackend(BackendUring))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	c := dialTCP(t, ln.Addr().String()) // served: the acceptor is registered
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("x"))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := testutil.Receive(t, served, 5*time.Second, "return from Serve"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve after Listener.Close = %v", err)
	}
	// Close shut the socket down: it stopped listening at once, not when
	// the cancelled poll request let go of it (TestListenerCloseRefuses).
	if d, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		d.Close()
		t.Fatal("the listening socket still accepts dials after Listener.Close")
	}
	for _, p := range s.pollers {
		p.ep.ur.mu.Lock()
		for fd, reg := range p.ep.ur.regs {
			if reg != nil && reg.slot <= tagListener {
				t.Errorf("poller %d: listener registration left on descriptor %d", p.id, fd)
			}
		}
		p.ep.ur.mu.Unlock()
	}
}

// TestUringMultishotAccept: a listener under uring is served by one
// multishot accept; a burst of connections larger than the acceptor's
// batch is accepted whole (the listener is reported again while
// accepted connections wait, as a level-triggered poll would), each with
// its peer's address, and closing the server closes the ones not yet
// handed out.
func TestUringMultishotAccept(t *testing.T) {
	needUring(t)
	t.Setenv(uringAcceptEnv, "1")
	testutil.CheckLeaks(t)
	s, addr := startServer(t, echoHandler, WithBackend(BackendUring), WithPollers(1))
	p := s.pollers[0]
	if !testutil.WaitFor(5*time.Second, func() bool { // Serve registers it
		p.ep.ur.mu.Lock()
		defer p.ep.ur.mu.Unlock()
		for _, reg := range p.ep.ur.regs {
			if reg != nil && reg.slot <= tagListener {
				return reg.lis != nil && reg.pollUD&udAccept != 0
			}
		}
		return false
	}) {
		t.Fatal("the listener is not served by a multishot accept")
	}
	const n = 3 * acceptBatch
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	peers := map[string]bool{}
	for _, c := range conns {
		peers[c.LocalAddr().String()] = true
	}
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(c, b); err != nil || b[0] != byte(i) {
			t.Fatalf("conn %d of %d: %v (accepted %d)", i, n, err, s.Stats().TotalConns)
		}
	}
	seen := 0
	p.reg.each(func(c *Conn) {
		if peers[c.RemoteAddr().String()] {
			seen++
		}
	})
	if seen != n {
		t.Fatalf("%d of %d connections have their peer's address", seen, n)
	}
}

// TestUringOneAcceptArmed: a listener served by a multishot accept has
// at most one accept request in the kernel. A pause cancels the armed
// one, and the accept of the resume is armed only once the cancelled one
// has ended: with two on the socket's wait queue, the kernel's one
// wake-up per connection can go to the cancelled one, which ends without
// the connection, and the connection waits in the backlog unserved.
// Connections arrive while accepting is paused and resumed (the acceptor
// applies the gate at its next event); every one is served in the end.
func TestUringOneAcceptArmed(t *testing.T) {
	needUring(t)
	t.Setenv(uringAcceptEnv, "1")
	testutil.CheckLeaks(t)
	s, addr := startServer(t, echoHandler, WithBackend(BackendUring), WithPollers(1))
	u := s.pollers[0].ep.ur
	// listening returns the listener's registration, nil before Serve
	// made it. Under u.mu.
	listening := func() *uringReg {
		for _, r := range u.regs {
			if r != nil && r.slot <= tagListener && r.lis != nil {
				return r
			}
		}
		return nil
	}
	if !testutil.WaitFor(5*time.Second, func() bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		reg := listening()
		return reg != nil && reg.pollUD != 0
	}) {
		t.Fatal("the listener is not served by a multishot accept")
	}
	const clients = 150
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 200 * time.Microsecond)
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			errs <- echoByteWithin(c, 10*time.Second)
		}()
	}
	owed, two := 0, 0
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < 4000 && len(errs) < clients && time.Now().Before(deadline); i++ {
		if i%2 == 0 {
			s.PauseAccept()
		} else {
			s.ResumeAccept()
		}
		time.Sleep(time.Duration(i%3) * 100 * time.Microsecond)
		u.mu.Lock()
		if reg := listening(); reg != nil {
			if reg.lis.owed {
				owed++
			}
			if reg.pollUD != 0 && len(reg.lis.retired) > 0 {
				two++
			}
		}
		u.mu.Unlock()
	}
	s.ResumeAccept()
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed++; failed <= 3 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d clients not served after the last ResumeAccept", failed, clients)
	}
	if two > 0 {
		t.Errorf("%d times an accept was armed while a cancelled one could still complete", two)
	}
	t.Logf("%d looks found the accept owed until a cancelled one ended", owed)
	u.mu.Lock()
	reg := listening()
	armed, retired := reg.pollUD != 0, len(reg.lis.retired)
	u.mu.Unlock()
	if !armed || retired != 0 {
		t.Errorf("at the end: accept armed %v, %d cancelled accepts not ended", armed, retired)
	}
}

// TestUringSendingBit: fSending, defined apart from conn.go's flags
// (like budget.go's and conn_poll.go's), shares its bit with none of
// them; it once did with fMaskStale.
func TestUringSendingBit(t *testing.T) {
	others := []uint32{fRegistered, fPeerEOF, fBroken, fWrShut, fInPaused, fConnecting,
		fReaderWaiting, fConnectHook, fLinger, fLingerDone, fUnix,
		fBudgetPaused, fLeftInput, fMaskStale}
	for _, f := range others {
		if f&fSending != 0 {
			t.Fatalf("fSending %#x overlaps flag %#x", fSending, f)
		}
	}
}

// echoClients runs clients ping-pong clients of rounds 64 B messages
// each against the echo server at addr, checking every message back.
func echoClients(t *testing.T, addr string, clients, rounds int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			got := make([]byte, 64)
			for r := range rounds {
				msg := bytes.Repeat([]byte{byte(i*rounds + r)}, 64)
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					errs <- fmt.Errorf("client %d round %d: %v (%x…)", i, r, err, got[:4])
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// bigEcho sends 256 KiB to the echo server at addr and checks the
// checksum of what comes back.
func bigEcho(t *testing.T, addr string) {
	t.Helper()
	c := dialTCP(t, addr)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	big := make([]byte, 256<<10)
	for i := range big {
		big[i] = byte(i * 7)
	}
	go c.Write(big)
	got := make([]byte, len(big))
	if _, err := io.ReadFull(c, got); err != nil || crc32.ChecksumIEEE(got) != crc32.ChecksumIEEE(big) {
		t.Fatalf("256 KiB echo: %v, checksum mismatch %v", err, !bytes.Equal(got, big))
	}
}

// TestUringOwedAcceptSubmitted: the accept a listener owed after a
// pause is queued by the reap that sees the pause's cancelled accept
// end, a completion that reported no event. A poll that reports no
// event with the accept unsubmitted lets the loop park (WaitRuntime)
// with it in the queue, and every later connection waits in the backlog
// (TestMaxConns/uring-accept: 9 connections waiting, the ring holding
// one unsubmitted request). So that reap reports the listener, and the
// loop's next poll submits the accept. The pollset is driven by hand
// here, without a poller loop.
func TestUringOwedAcceptSubmitted(t *testing.T) {
	needUring(t)
	t.Setenv(uringAcceptEnv, "1")
	u, err := newUringSet(false, false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer u.close()
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
	fd := int(f.Fd())
	for _, in := range []uint32{evIn, 0, evIn} { // served, paused, resumed
		op := unix.EPOLL_CTL_MOD
		if in == evIn && u.reg(fd) == nil {
			op = unix.EPOLL_CTL_ADD
		}
		if err := u.ctl(op, fd, in, tagListener, 0); err != nil {
			t.Fatalf("ctl %d, %#x: %v", op, in, err)
		}
	}
	u.mu.Lock()
	reg := u.reg(fd)
	owed := reg.lis.owed && len(reg.lis.retired) == 1
	u.mu.Unlock()
	if !owed {
		t.Fatal("after a pause and a resume, the accept is not owed behind the cancelled one")
	}
	events := make([]event, 16)
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := u.poll(events)
		if err != nil {
			t.Fatal(err)
		}
		u.mu.Lock()
		retired, pending, armed := len(reg.lis.retired), u.r.Pending(), reg.pollUD != 0
		u.mu.Unlock()
		if retired == 0 {
			if !armed || pending != 0 && n == 0 {
				t.Fatalf("poll returned %d events with the owed accept armed %v and %d requests unsubmitted", n, armed, pending)
			}
			if n > 0 {
				// As the acceptor does for the listener's event: nothing
				// to take yet.
				if _, _, err := u.accept(fd); err != errAgain {
					t.Fatalf("accept after the owed accept was armed: %v, want errAgain", err)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cancelled accept did not end within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	// The accept is in the kernel: a connection completes it.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		n, err := u.poll(events)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no accept completed within 5 s of the connection")
		}
		time.Sleep(time.Millisecond)
	}
	nfd, _, err := u.accept(fd)
	if err != nil {
		t.Fatalf("accept after the completion: %v", err)
	}
	sysClose(nfd)
}
