package netpoll

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// stressState is a connection's state in the lifecycle stress: OnConnect
// makes it, handlers and OnDisconnect check it.
type stressState struct {
	running      atomic.Bool
	disconnected atomic.Int32
	next         uint32
	id           uint32
	seen         bool
}

type stressChecks struct {
	noConnect, overlaps, disorder, afterDisc, discWhileRunning, doubleDisc atomic.Int64
	connects, disconnects, runs                                            atomic.Int64
}

func (k *stressChecks) report(t *testing.T) {
	t.Helper()
	for _, x := range []struct {
		name string
		v    *atomic.Int64
	}{
		{"handler run without OnConnect", &k.noConnect},
		{"overlapping handler runs", &k.overlaps},
		{"frames out of order", &k.disorder},
		{"handler runs after OnDisconnect", &k.afterDisc},
		{"OnDisconnect while a handler ran", &k.discWhileRunning},
		{"second OnDisconnect", &k.doubleDisc},
	} {
		if n := x.v.Load(); n != 0 {
			t.Errorf("%s: %d", x.name, n)
		}
	}
}

const (
	stressOpEcho      = 'E'
	stressOpNap       = 'N' // sleep 2-3 ms (the watchdog hands off)
	stressOpPanic     = 'P'
	stressOpErr       = 'X' // return an error
	stressOpSelfClose = 'C' // c.Close() from the handler, then echo fails
	stressOpGoClose   = 'G' // close from another goroutine, echo first
	stressOpLong      = 'L' // sleep 150 ms
)

func stressHandler(k *stressChecks, inline bool) Handler {
	return func(c *Conn) error {
		st, _ := c.Context().(*stressState)
		if st == nil {
			k.noConnect.Add(1)
			return errors.New("no state")
		}
		if st.disconnected.Load() != 0 {
			k.afterDisc.Add(1)
		}
		if !st.running.CompareAndSwap(false, true) {
			k.overlaps.Add(1)
		}
		defer st.running.Store(false)
		k.runs.Add(1)
		r, w := c.Reader(), c.Writer()
		for r.Len() > 0 {
			b, err := r.Next(frameSize)
			if err != nil {
				if inline && errors.Is(err, ErrWouldBlock) {
					return nil
				}
				return err
			}
			id, seq := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
			if !st.seen {
				st.id, st.seen = id, true
			}
			if id != st.id || seq != st.next {
				k.disorder.Add(1)
			}
			st.next = seq + 1
			switch b[8] {
			case stressOpNap:
				if !inline {
					time.Sleep(time.Duration(2+seq%2) * time.Millisecond)
				}
			case stressOpLong:
				if !inline {
					time.Sleep(150 * time.Millisecond)
				}
			case stressOpPanic:
				panic("stress: asked to panic")
			case stressOpErr:
				return errAskedToClose
			case stressOpSelfClose:
				c.Close()
			case stressOpGoClose:
				defer func() { go c.Close() }()
			}
			if _, err := w.WriteBinary(b); err != nil {
				return err
			}
			if err := r.Release(); err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				if inline && errors.Is(err, ErrWouldBlock) {
					return nil
				}
				return err
			}
		}
		return nil
	}
}

// TestLifecycleStress runs, in every dispatch mode and trigger,
// connections whose handlers nap, wait for split frames, panic, fail,
// close themselves or are closed from other goroutines, and checks the
// hook and handler promises, then Shutdown's.
func TestLifecycleStress(t *testing.T) {
	skipStd(t, "poller dispatch")
	for _, mode := range []Dispatch{DispatchHandoff, DispatchPool, DispatchInline, DispatchEach} {
		for _, trig := range allTriggers {
			t.Run(fmt.Sprintf("%v/%v", mode, trig), func(t *testing.T) {
				runLifecycleStress(t, mode, trig)
			})
		}
	}
}

func runLifecycleStress(t *testing.T, mode Dispatch, trig Trigger) {
	const conns, frames = 60, 30
	baseG := len(testutil.LiveGoroutines())
	baseFD := testutil.FDs(t)
	var k stressChecks
	inline := mode == DispatchInline
	var ocount atomic.Int64
	var mu sync.Mutex
	live := []*Conn{}
	s, err := NewServer(stressHandler(&k, inline), WithDispatch(mode), WithTrigger(trig), WithPollers(2),
		WithOnConnect(func(c *Conn) {
			k.connects.Add(1)
			c.SetContext(new(stressState))
			mu.Lock()
			live = append(live, c)
			mu.Unlock()
			switch ocount.Add(1) % 41 {
			case 7:
				c.Close()
			case 13:
				panic("stress: OnConnect panics")
			}
		}),
		WithOnDisconnect(func(c *Conn, err error) {
			k.disconnects.Add(1)
			st, _ := c.Context().(*stressState)
			if st == nil {
				return
			}
			if st.running.Load() {
				k.discWhileRunning.Add(1)
			}
			if st.disconnected.Add(1) != 1 {
				k.doubleDisc.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	stopCloser := make(chan struct{})
	closerDone := make(chan struct{})
	go func() { // closes random server conns from another goroutine
		defer close(closerDone)
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stopCloser:
				return
			case <-time.After(15 * time.Millisecond):
			}
			mu.Lock()
			var c *Conn
			if len(live) > 0 && rng.IntN(4) == 0 {
				i := rng.IntN(len(live))
				c = live[i]
				live[i] = live[len(live)-1]
				live = live[:len(live)-1]
			}
			mu.Unlock()
			if c != nil {
				c.Close()
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, conns)
	var lost atomic.Int64
	for i := range conns {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), uint64(mode)*10+uint64(trig)))
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer nc.Close()
			var out, in [frameSize]byte
			for seq := range uint32(frames) {
				op := byte(stressOpEcho)
				split := false
				switch x := rng.IntN(100); {
				case x < 10:
					op = stressOpNap
				case x < 20:
					split = true
				case x == 20:
					op = stressOpPanic
				case x == 21:
					op = stressOpErr
				case x == 22:
					op = stressOpSelfClose
				case x == 23:
					op = stressOpGoClose
				}
				putFrame(out[:], uint32(i), seq, op)
				nc.SetDeadline(time.Now().Add(10 * time.Second))
				if split {
					if _, err := nc.Write(out[:5]); err != nil {
						return
					}
					time.Sleep(2 * time.Millisecond)
					if _, err := nc.Write(out[5:]); err != nil {
						return
					}
				} else if _, err := nc.Write(out[:]); err != nil {
					return
				}
				if _, err := io.ReadFull(nc, in[:]); err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
						return // closed by the server
					}
					lost.Add(1)
					errs <- fmt.Errorf("conn %d frame %d op %c: %w", i, seq, op, err)
					return
				}
				if in != out {
					errs <- fmt.Errorf("conn %d: echo %x, sent %x", i, in, out)
					return
				}
				if op == stressOpGoClose || op == stressOpSelfClose {
					// (self close: echo can't arrive, so we never get here)
					continue
				}
			}
		})
	}
	wg.Wait()
	close(stopCloser)
	<-closerDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Handlers blocked when Shutdown begins: their answers go out whole.
	var late []net.Conn
	for i := range 6 {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		var out [frameSize]byte
		putFrame(out[:], uint32(1000+i), 0, stressOpLong)
		nc.Write(out[:])
		late = append(late, nc)
	}
	time.Sleep(30 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	for i, nc := range late {
		var in [frameSize]byte
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(nc, in[:]); err != nil && ocount.Load()%41 != 7 {
			t.Logf("late conn %d: %v", i, err)
		}
		nc.Close()
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	k.report(t)
	if c, d := k.connects.Load(), k.disconnects.Load(); c != d || c != conns+6 {
		t.Errorf("%d OnConnect, %d OnDisconnect, %d conns", c, d, conns)
	}
	st := s.Stats()
	if st.LiveConns != 0 || s.owner.hooks.Load() != 0 {
		t.Errorf("after Shutdown: LiveConns %d, hooks due %d", st.LiveConns, s.owner.hooks.Load())
	}
	if !testutil.WaitFor(10*time.Second, func() bool { return len(testutil.LiveGoroutines()) <= baseG && testutil.FDs(t) <= baseFD }) {
		t.Errorf("goroutines %d (base %d), fds %d (base %d)", len(testutil.LiveGoroutines()), baseG, testutil.FDs(t), baseFD)
	}
	t.Logf("runs %d handoffs %d", k.runs.Load(), st.Handoffs)
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}
