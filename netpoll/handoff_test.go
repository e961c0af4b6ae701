package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/gopool"
	"github.com/upoll/upoll/internal/testutil"
)

// The hand-off tests speak in 16-byte frames: conn id, sequence number,
// an op byte, padding. The handler echoes each frame after doing what
// its op says.
const (
	frameSize = 16

	opEcho  = 'E'
	opSleep = 'S' // sleep 1 s, then echo
	opSpin  = 'C' // keep the CPU busy for 1 s, then echo
	opNap   = 'N' // sleep a few ms, then echo
	opPanic = 'P' // sleep a little, then panic
	opClose = 'X' // return an error: the connection closes
)

func putFrame(b []byte, id, seq uint32, op byte) {
	binary.BigEndian.PutUint32(b[0:], id)
	binary.BigEndian.PutUint32(b[4:], seq)
	b[8] = op
	for i := 9; i < frameSize; i++ {
		b[i] = byte(id + seq + uint32(i))
	}
}

// frameState is a connection's context in the frame handler: it checks
// that runs never overlap and that frames come in order.
type frameState struct {
	running atomic.Bool
	next    uint32 // sequence number expected next
	id      uint32
	seen    bool
}

// frameChecks counts what the frame handler found wrong.
type frameChecks struct {
	overlaps, disorder atomic.Int64
}

// frameHandler handles whole frames. It reads each with Next(frameSize),
// so a frame that arrived in part makes it wait for the rest (the
// hand-off by yield); ops that sleep or spin make the watchdog take the
// duty.
func frameHandler(chk *frameChecks) Handler {
	return func(c *Conn) error {
		st, _ := c.Context().(*frameState)
		if st == nil {
			st = new(frameState)
			c.SetContext(st)
		}
		if !st.running.CompareAndSwap(false, true) {
			chk.overlaps.Add(1)
		}
		defer st.running.Store(false)
		r, w := c.Reader(), c.Writer()
		for r.Len() > 0 {
			b, err := r.Next(frameSize)
			if err != nil {
				return err
			}
			id, seq := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
			if !st.seen {
				st.id, st.seen = id, true
			}
			if id != st.id || seq != st.next {
				chk.disorder.Add(1)
			}
			st.next = seq + 1
			switch b[8] {
			case opSleep:
				time.Sleep(time.Second)
			case opSpin:
				for end := time.Now().Add(time.Second); time.Now().Before(end); {
				}
			case opNap:
				time.Sleep(time.Duration(1+seq%4) * time.Millisecond)
			case opPanic:
				time.Sleep(20 * time.Millisecond)
				panic("frame handler: asked to panic")
			case opClose:
				return errAskedToClose
			}
			if _, err := w.WriteBinary(b); err != nil {
				return err
			}
			if err := r.Release(); err != nil {
				return err
			}
		}
		return w.Flush()
	}
}

var errAskedToClose = errors.New("frame handler: asked to close")

// frameClient is one client connection speaking frames.
type frameClient struct {
	c   net.Conn
	id  uint32
	seq uint32
	out [frameSize]byte
	in  [frameSize]byte
}

func dialFrames(t testing.TB, addr string, id uint32) *frameClient {
	return &frameClient{c: dialTCP(t, addr), id: id}
}

// roundTrip sends one frame with op and reads its echo; split sends it
// in two writes 20 ms apart.
func (fc *frameClient) roundTrip(op byte, split bool, timeout time.Duration) error {
	putFrame(fc.out[:], fc.id, fc.seq, op)
	fc.seq++
	fc.c.SetDeadline(time.Now().Add(timeout))
	if split {
		if _, err := fc.c.Write(fc.out[:frameSize/2]); err != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
		if _, err := fc.c.Write(fc.out[frameSize/2:]); err != nil {
			return err
		}
	} else if _, err := fc.c.Write(fc.out[:]); err != nil {
		return err
	}
	if _, err := io.ReadFull(fc.c, fc.in[:]); err != nil {
		return err
	}
	if fc.in != fc.out {
		return fmt.Errorf("conn %d: echo %x, sent %x", fc.id, fc.in, fc.out)
	}
	return nil
}

// TestHandoffKeepsPollerServing blocks handlers in three ways — one
// sleeping 1 s, one spinning the CPU for 1 s, eight sleeping at once —
// on a single poller, and checks that 40 other connections keep doing
// round trips meanwhile with no round trip slower than a few hundred
// ms. With the handlers run inline and no hand-off, every round trip
// would wait out the second.
func TestHandoffKeepsPollerServing(t *testing.T) {
	skipStd(t, "the poller hand-off")
	cases := []struct {
		name     string
		op       byte
		blockers int
	}{
		{"sleep", opSleep, 1},
		{"spin", opSpin, 1},
		{"eight-sleepers", opSleep, 8},
	}
	for _, trig := range allTriggers {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%v/%s", trig, tc.name), func(t *testing.T) {
				var chk frameChecks
				// Handoff is the default (TestDefaultsTable); asked for here so
				// that a UPOLL dispatch override does not change the test.
				s, addr := startServer(t, frameHandler(&chk), WithPollers(1), WithTrigger(trig), WithDispatch(DispatchHandoff))
				testPollerServesPastBlockers(t, addr, tc.op, tc.blockers)
				if n := chk.overlaps.Load() + chk.disorder.Load(); n != 0 {
					t.Errorf("%d overlapping or out-of-order handler runs", n)
				}
				st := s.Stats()
				if st.Handoffs < uint64(tc.blockers) {
					t.Errorf("Handoffs = %d, want >= %d (one per blocked handler)", st.Handoffs, tc.blockers)
				}
			})
		}
	}
}

func testPollerServesPastBlockers(t *testing.T, addr string, op byte, blockers int) {
	const others = 40
	const maxWait = 700 * time.Millisecond // the blockers hold their handlers for 1 s
	block := make([]*frameClient, blockers)
	for i := range block {
		block[i] = dialFrames(t, addr, uint32(1000+i))
	}
	clients := make([]*frameClient, others)
	for i := range clients {
		clients[i] = dialFrames(t, addr, uint32(i))
		if err := clients[i].roundTrip(opEcho, false, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	blockErrs := make(chan error, blockers)
	for _, fc := range block {
		wg.Go(func() { blockErrs <- fc.roundTrip(op, false, 10*time.Second) })
	}
	time.Sleep(50 * time.Millisecond) // let the blockers' handlers start
	trips := make([]int, others)
	slowest := make([]time.Duration, others)
	errs := make(chan error, others)
	end := time.Now().Add(800 * time.Millisecond) // inside the blockers' second
	for i, fc := range clients {
		wg.Go(func() {
			for n := 0; n < 10000 && time.Now().Before(end); n++ {
				start := time.Now()
				if err := fc.roundTrip(opEcho, false, 5*time.Second); err != nil {
					errs <- err
					return
				}
				trips[i]++
				slowest[i] = max(slowest[i], time.Since(start))
			}
		})
	}
	wg.Wait()
	close(errs)
	close(blockErrs)
	for err := range errs {
		t.Fatal(err)
	}
	for err := range blockErrs {
		if err != nil {
			t.Fatalf("blocking round trip: %v", err)
		}
	}
	for i := range clients {
		if trips[i] < 3 || slowest[i] > maxWait {
			t.Errorf("conn %d: %d round trips while handlers blocked, slowest %v (want >= 3, <= %v)",
				i, trips[i], slowest[i], maxWait)
		}
	}
}

// TestHandoffLosesNothing runs 1,000 connections whose handlers block
// at random (short sleeps, and frames that arrive in two parts so that
// Next waits for the rest) and checks that every frame is echoed once,
// in order, by runs that never overlap; then that the goroutines taken
// for hand-offs are given back.
func TestHandoffLosesNothing(t *testing.T) {
	skipStd(t, "the poller hand-off")
	conns, frames := 1000, 6
	if testing.Short() {
		conns = 200
	}
	pool, err := gopool.New()
	if err != nil {
		t.Fatal(err)
	}
	base := runtime.NumGoroutine()
	var chk frameChecks
	s, addr := startServer(t, frameHandler(&chk), WithPool(pool), WithPollers(2), WithDispatch(DispatchHandoff))
	clients := make([]*frameClient, conns)
	for i := range clients {
		clients[i] = dialFrames(t, addr, uint32(i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	sem := make(chan struct{}, 100) // bound the client goroutines running at once
	for i, fc := range clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			for range frames {
				op, split := byte(opEcho), false
				switch rng.IntN(10) {
				case 0:
					op = opNap
				case 1:
					split = true
				}
				if err := fc.roundTrip(op, split, 20*time.Second); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := chk.overlaps.Load(); n != 0 {
		t.Errorf("%d handler runs overlapped another of the same connection", n)
	}
	if n := chk.disorder.Load(); n != 0 {
		t.Errorf("%d frames seen out of order", n)
	}
	// The last writev's count is added after the kernel took the bytes,
	// so the client may see them a moment before Stats does.
	want := uint64(conns * frames * frameSize)
	st := s.Stats()
	for deadline := time.Now().Add(5 * time.Second); st.BytesOut < want && time.Now().Before(deadline); st = s.Stats() {
		time.Sleep(time.Millisecond)
	}
	if st.BytesIn != want || st.BytesOut != want {
		t.Errorf("bytes in %d, out %d, want %d each", st.BytesIn, st.BytesOut, want)
	}
	if st.Handoffs == 0 {
		t.Error("no hand-off happened: the test did not exercise it")
	}
	t.Logf("handoffs %d (watchdog %d), handler runs %d", st.Handoffs, st.WatchdogHandoffs, st.HandlerRuns)
	for _, fc := range clients {
		fc.c.Close()
	}
	s.Close()
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines after Close, %d before the server started", n, base)
	}
}

// TestHandoffPanicClosesOnlyItsConn makes a handler block and then
// panic while other connections run: only its connection closes, with
// ErrHandlerPanic as the reason.
func TestHandoffPanicClosesOnlyItsConn(t *testing.T) {
	var chk frameChecks
	reasons := make(chan error, 64)
	s, addr := startServer(t, frameHandler(&chk), WithPollers(1),
		WithOnDisconnect(func(c *Conn, err error) { reasons <- err }))
	bad := dialFrames(t, addr, 99)
	others := make([]*frameClient, 8)
	for i := range others {
		others[i] = dialFrames(t, addr, uint32(i))
	}
	putFrame(bad.out[:], bad.id, 0, opPanic)
	bad.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := bad.c.Write(bad.out[:]); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		for _, fc := range others {
			if err := fc.roundTrip(opEcho, false, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := bad.c.Read(bad.in[:]); !errors.Is(err, io.EOF) {
		t.Fatalf("panicking conn: read returned %v, want EOF", err)
	}
	select {
	case err := <-reasons:
		if !errors.Is(err, ErrHandlerPanic) {
			t.Fatalf("OnDisconnect reason %v, want ErrHandlerPanic", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnDisconnect did not run for the panicking conn")
	}
	for _, fc := range others {
		if err := fc.roundTrip(opEcho, false, 5*time.Second); err != nil {
			t.Fatalf("conn %d after the panic: %v", fc.id, err)
		}
	}
	// A connection leaves LiveConns when its last reference goes, which
	// under BackendStd is its goroutine's, dropped just after the
	// OnDisconnect that goroutine ran.
	live := func() bool { return s.Stats().LiveConns == int64(len(others)) }
	if !testutil.WaitFor(5*time.Second, live) {
		t.Errorf("%d live conns, want %d", s.Stats().LiveConns, len(others))
	}
}

// TestWatchdogSleepsWhenIdle checks that the watchdog stops ticking
// when no handler runs, and wakes for the next one that blocks.
func TestWatchdogSleepsWhenIdle(t *testing.T) {
	skipStd(t, "the hand-off watchdog")
	var chk frameChecks
	s, addr := startServer(t, frameHandler(&chk), WithPollers(1), WithDispatch(DispatchHandoff))
	wd := s.watchdog
	if wd == nil {
		t.Fatal("no watchdog on a handoff server")
	}
	fc := dialFrames(t, addr, 1)
	if err := fc.roundTrip(opEcho, false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !wd.sleeping.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !wd.sleeping.Load() {
		t.Fatal("watchdog still ticking 5 s after the last handler ran")
	}
	other := dialFrames(t, addr, 2)
	if err := other.roundTrip(opEcho, false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fc.roundTrip(opSleep, false, 10*time.Second) }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := other.roundTrip(opEcho, false, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("round trip behind a sleeping handler took %v: the watchdog did not wake", d)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestHandoffBlockingOnDisconnect makes OnDisconnect, which runs on the
// poller when a handler there closes its connection, sleep for a
// second: the other connections of the poller keep being served.
func TestHandoffBlockingOnDisconnect(t *testing.T) {
	var chk frameChecks
	hooked := make(chan error, 1)
	_, addr := startServer(t, frameHandler(&chk), WithPollers(1), WithDispatch(DispatchHandoff),
		WithOnDisconnect(func(c *Conn, err error) {
			if errors.Is(err, errAskedToClose) {
				time.Sleep(time.Second)
				hooked <- err
			}
		}))
	others := make([]*frameClient, 10)
	for i := range others {
		others[i] = dialFrames(t, addr, uint32(i))
		if err := others[i].roundTrip(opEcho, false, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	closer := dialFrames(t, addr, 50)
	putFrame(closer.out[:], closer.id, 0, opClose)
	if _, err := closer.c.Write(closer.out[:]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the hook start sleeping
	for range 5 {
		for _, fc := range others {
			start := time.Now()
			if err := fc.roundTrip(opEcho, false, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 700*time.Millisecond {
				t.Fatalf("conn %d: round trip took %v behind a blocking OnDisconnect", fc.id, d)
			}
		}
	}
	select {
	case <-hooked:
	case <-time.After(5 * time.Second):
		t.Fatal("OnDisconnect did not finish")
	}
}
