package reliability

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/gopool"
	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// TestPoolSaturation runs slow handlers on a 2-worker pool with each
// overload policy while 16 connections send 8-byte frames, some split
// across two writes so that a handler has to wait for the second half.
// Whatever the policy does with new work (wait for a worker, run it on
// the submitter, refuse it), no frame may be lost, duplicated or seen
// out of order, and handlers of one connection must never overlap.
// Block and CallerRuns answer every frame. FailFast refuses a handler
// run that finds the pool full by closing that connection with
// netpoll.ErrPoolOverload: such a client sees its acks, in order, up to
// a clean end of stream, and the number of clients cut short equals the
// number of connections closed for that reason.
func TestPoolSaturation(t *testing.T) {
	skipStdBackend(t, "BackendStd runs handlers on each connection's goroutine, not on the pool")
	const (
		conns  = 16
		frames = 40
	)
	for _, pol := range []gopool.Policy{gopool.Block, gopool.CallerRuns, gopool.FailFast} {
		t.Run(pol.String(), func(t *testing.T) {
			checkLeaks(t)
			pool := newPool(t, gopool.WithCapacity(2), gopool.WithPolicy(pol))
			type state struct {
				next    uint32
				running atomic.Int32
			}
			var (
				mu       sync.Mutex
				states   = map[*netpoll.Conn]*state{}
				problems = make(chan error, conns*frames)
				maxWait  atomic.Int32
				maxBusy  atomic.Int32 // most pool tasks seen running at once
				cutShort atomic.Int32
				finished atomic.Int32 // clients that got every ack
			)
			n := startNative(t, func(c *netpoll.Conn) error {
				mu.Lock()
				st := states[c]
				if st == nil {
					st = &state{}
					states[c] = st
				}
				mu.Unlock()
				if st.running.Add(1) != 1 {
					problems <- fmt.Errorf("two handlers of one conn at once")
				}
				defer st.running.Add(-1)
				ps := pool.Stats()
				if w := int32(ps.Waiting); w > maxWait.Load() {
					maxWait.Store(w)
				}
				if r := int32(ps.Running); r > maxBusy.Load() {
					maxBusy.Store(r)
				}
				r, w := c.Reader(), c.Writer()
				for r.Len() > 0 {
					b, err := r.Next(8) // blocks for the second half of a split frame
					if err != nil {
						return err
					}
					seq := binary.BigEndian.Uint32(b)
					if seq != st.next {
						problems <- fmt.Errorf("frame %d arrived, expected %d", seq, st.next)
					}
					st.next = seq + 1
					r.Release()
					time.Sleep(time.Millisecond) // a slow handler keeps the pool full
					var ack [4]byte
					binary.BigEndian.PutUint32(ack[:], seq)
					if _, err := w.WriteBinary(ack[:]); err != nil {
						return err
					}
					if err := w.Flush(); err != nil {
						return err
					}
				}
				return nil
			}, netpoll.WithPool(pool), netpoll.WithDispatch(netpoll.DispatchPool), netpoll.WithPollers(1),
				netpoll.WithReadTimeout(5*time.Second))

			var wg sync.WaitGroup
			for i := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.DialTimeout("tcp", n.addr, 5*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(20 * time.Second))
					go func() {
						for f := range frames {
							var b [8]byte
							binary.BigEndian.PutUint32(b[:], uint32(f))
							if f%4 == i%4 { // split: the handler must wait for the rest
								c.Write(b[:3])
								time.Sleep(2 * time.Millisecond)
								c.Write(b[3:])
							} else {
								c.Write(b[:])
							}
						}
					}()
					for f := range frames {
						var ack [4]byte
						if _, err := io.ReadFull(c, ack[:]); err != nil {
							if pol == gopool.FailFast && closedByPeer(err) {
								cutShort.Add(1) // refused: checked against the disconnect reasons below
								return
							}
							t.Errorf("conn %d: ack %d: %v", i, f, err)
							return
						}
						if got := binary.BigEndian.Uint32(ack[:]); got != uint32(f) {
							t.Errorf("conn %d: ack %d, want %d", i, got, f)
							return
						}
					}
					finished.Add(1)
				}()
			}
			testutil.WaitGroup(t, &wg, 2*time.Minute, "the clients")
			close(problems)
			for err := range problems {
				t.Error(err)
			}
			refused := n.disc.countIf(func(err error) bool { return errors.Is(err, netpoll.ErrPoolOverload) })
			if pol != gopool.FailFast && refused != 0 {
				t.Errorf("policy %v refused %d connections", pol, refused)
			}
			// Every client cut short was refused; a client that got every
			// ack may be refused too, by the run that its close makes (the
			// pool still full with others), after it finished.
			accounted := func() bool {
				cut := int(cutShort.Load())
				return refused >= cut && refused <= cut+int(finished.Load())
			}
			if pol == gopool.FailFast && !accounted() {
				// Bounded wait: a refused conn's disconnect is reported
				// after the client has seen its EOF.
				deadline := time.Now().Add(5 * time.Second)
				for !accounted() && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
					refused = n.disc.countIf(func(err error) bool { return errors.Is(err, netpoll.ErrPoolOverload) })
				}
				if !accounted() {
					t.Errorf("%d clients cut short and %d finished, %d connections refused with ErrPoolOverload", cutShort.Load(), finished.Load(), refused)
				}
			}
			st := pool.Stats()
			t.Logf("policy %v: %d refused; pool completed %d tasks, most running at once %d, max waiting submitters seen %d; server: %d handler runs, disconnect reasons %v",
				pol, refused, st.Completed, maxBusy.Load(), maxWait.Load(), n.srv.Stats().HandlerRuns, n.disc.summary())
			// The scenario is a saturated pool: without one, none of the
			// above was tested.
			if int(maxBusy.Load()) < st.Capacity {
				t.Errorf("the pool never ran more than %d tasks at once (capacity %d): it was never saturated", maxBusy.Load(), st.Capacity)
			}
			if pol == gopool.FailFast && refused == 0 {
				t.Errorf("FailFast refused no handler run: the pool was never full when the backlog submitted")
			}
		})
	}
}

// TestSaturatedPoolBlockedHandler is the smallest form of the stall
// TestPoolSaturation once found. One poller, a 1-worker pool; the
// handler reads one 8-byte frame with Reader.Next (which waits for the
// rest of a frame, as documented) and acks it. Connections A and B each
// send 3 bytes of a frame, then the other 5. A's handler takes the only
// worker and waits for its 5 bytes; B's handler cannot get a worker. The
// poller must keep reading whatever the policy: if it waited for a
// worker (Block) or ran B's handler itself (CallerRuns), neither handler
// would get its bytes until the 3 s read timeout. So A's ack must come
// within 2 s, and B's too under Block and CallerRuns; under FailFast B
// is refused: closed at once with netpoll.ErrPoolOverload.
//
// Under DispatchHandoff handlers run on the poller and the pool only
// lends goroutines to take over a poller whose handler blocks; when it
// has none free the poller takes a goroutine of its own rather than
// wait or refuse. So every policy must ack both within 2 s there.
func TestSaturatedPoolBlockedHandler(t *testing.T) {
	skipStdBackend(t, "BackendStd runs handlers on each connection's goroutine, not on the pool")
	for _, disp := range []netpoll.Dispatch{netpoll.DispatchPool, netpoll.DispatchHandoff} {
		for _, pol := range []gopool.Policy{gopool.Block, gopool.CallerRuns, gopool.FailFast} {
			t.Run(disp.String()+"/"+pol.String(), func(t *testing.T) {
				testSaturatedPoolBlockedHandler(t, disp, pol)
			})
		}
	}
}

func testSaturatedPoolBlockedHandler(t *testing.T, disp netpoll.Dispatch, pol gopool.Policy) {
	refuses := pol == gopool.FailFast && disp == netpoll.DispatchPool
	checkLeaks(t)
	pool := newPool(t, gopool.WithCapacity(1), gopool.WithPolicy(pol))
	n := startNative(t, func(c *netpoll.Conn) error {
		b, err := c.Reader().Next(8)
		if err != nil {
			return err
		}
		w := c.Writer()
		w.WriteBinary(b[:1])
		c.Reader().Release()
		return w.Flush()
	}, netpoll.WithPool(pool), netpoll.WithPollers(1), netpoll.WithReadTimeout(3*time.Second),
		netpoll.WithDispatch(disp))
	a, b := dial(t, n.addr), dial(t, n.addr)
	defer a.Close()
	defer b.Close()
	a.Write([]byte("AAA"))
	time.Sleep(100 * time.Millisecond) // A's handler holds the worker
	b.Write([]byte("BBB"))
	time.Sleep(100 * time.Millisecond) // B's handler is being dispatched
	a.Write([]byte("AAAAA"))
	b.Write([]byte("BBBBB"))
	start := time.Now()
	for _, c := range []*net.TCPConn{a, b} {
		c.SetReadDeadline(start.Add(5 * time.Second))
		var ack [1]byte
		_, err := io.ReadFull(c, ack[:])
		if refuses && c == b {
			if !closedByPeer(err) {
				t.Errorf("conn B under FailFast: %q, %v; want refused (EOF or reset)", ack[:], err)
			}
			continue
		}
		if d := time.Since(start); err != nil || d > 2*time.Second {
			t.Errorf("conn %c: ack after %v: %q, %v (disconnects: %v)",
				"AB"[map[*net.TCPConn]int{a: 0, b: 1}[c]], d.Round(time.Millisecond), ack[:], err, n.disc.summary())
		}
	}
	if refuses {
		isOverload := func(err error) bool { return errors.Is(err, netpoll.ErrPoolOverload) }
		deadline := time.Now().Add(5 * time.Second)
		for n.disc.countIf(isOverload) != 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := n.disc.countIf(isOverload); got != 1 {
			t.Errorf("%d connections refused with ErrPoolOverload, want 1: %v", got, n.disc.summary())
		}
	}
}

// closedByPeer reports an end of stream or a reset: a server that closes
// a connection with input still unread makes the kernel send RST.
func closedByPeer(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}
