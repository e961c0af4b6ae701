package netpoll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestEchoManyConns(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			s, addr := startServer(t, echoHandler, WithTrigger(trig))
			runEchoClients(t, addr, n, 3, 16<<10)
			// Counters are bumped after the syscall: let them catch up.
			settle(2*time.Second, func() bool { st := s.Stats(); return st.BytesIn == st.BytesOut })
			st := s.Stats()
			if st.TotalConns < uint64(n) || st.BytesIn == 0 || st.BytesIn != st.BytesOut {
				t.Fatalf("stats: %+v", st.PollerStats)
			}
		})
	}
}

func TestWaitStrategiesAndDispatch(t *testing.T) {
	for _, w := range []WaitStrategy{WaitBlock, WaitSpin, WaitRuntime} {
		for _, d := range []Dispatch{DispatchPool, DispatchInline} {
			for _, b := range []Balance{RoundRobin, LeastConnections} {
				t.Run(w.String()+"/"+d.String()+"/"+b.String(), func(t *testing.T) {
					s, addr := startServer(t, echoHandler, WithWait(w), WithDispatch(d),
						WithBalance(b), WithPollers(2), WithTrigger(EdgeTriggered))
					runEchoClients(t, addr, 20, 5, 64<<10)
					if st := s.Stats(); st.Events == 0 || st.EpollWaits == 0 {
						t.Fatalf("no events counted: %+v", st.PollerStats)
					}
				})
			}
		}
	}
}

func TestReusePort(t *testing.T) {
	opts := []Option{WithReusePort(true), WithPollers(3)}
	ln, err := Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(ln.fds) != 3 {
		t.Fatalf("%d sockets, want 3", len(ln.fds))
	}
	s, err := NewServer(echoHandler, opts...)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	runEchoClients(t, ln.Addr().String(), 30, 3, 4<<10)
}

// TestStaleEvent feeds an event whose generation no longer matches: the
// slot was freed and reused by another connection.
func TestStaleEvent(t *testing.T) {
	s, addr, conns := startAccept(t, WithPollers(1))
	p := s.pollers[0]
	cl1 := dialTCP(t, addr)
	c1 := recvConn(t, conns)
	slot, gen := c1.slot, p.reg.gen(c1.slot)
	c1.Close()
	cl1.Close()
	if !settle(2*time.Second, func() bool { return p.reg.lookup(slot, gen) == nil }) {
		t.Fatal("slot not freed")
	}
	dialTCP(t, addr)
	c2 := recvConn(t, conns)
	defer c2.Close()
	gen2 := p.reg.gen(c2.slot)
	if c2.slot != slot || gen2 == gen {
		t.Fatalf("slot reuse: old %d/%d new %d/%d", slot, gen, c2.slot, gen2)
	}
	if p.reg.lookup(slot, gen) != nil {
		t.Fatal("lookup with the old generation found a connection")
	}
	if p.reg.lookup(slot, gen2) != c2 {
		t.Fatal("lookup with the new generation failed")
	}
	// The same through the poller's event routing, on an idle poller
	// value: the stale event is counted and dropped.
	q := &poller{}
	idx, g, _ := q.reg.add(c2)
	q.reg.remove(idx)
	ev := unix.EpollEvent{Events: evIn, Fd: idx, Pad: g}
	q.handle(&ev)
	if q.ctr.staleEvents.Load() != 1 || len(q.requeue) != 0 {
		t.Fatalf("stale event not dropped (stale=%d)", q.ctr.staleEvents.Load())
	}
}

func TestPeerResetMidRead(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithTrigger(trig))
			cl.Write([]byte("partial"))
			buf := make([]byte, 7)
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := c.Reader().Next(100); done <- err }()
			time.Sleep(20 * time.Millisecond)
			cl.SetLinger(0)
			cl.Close()
			select {
			case err := <-done:
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("Next after RST = %v; want ECONNRESET", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("reader not woken by RST")
			}
		})
	}
}

func TestPeerResetMidWrite(t *testing.T) {
	c, cl := acceptPair(t, WithMaxOutput(64<<10))
	done := make(chan error, 1)
	go func() { _, err := c.Write(make([]byte, 64<<20)); done <- err }()
	time.Sleep(50 * time.Millisecond)
	cl.SetLinger(0)
	cl.Close()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("Write after RST = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writer not woken by RST")
	}
}

func TestHandlerModeResetCloses(t *testing.T) {
	disc := make(chan error, 1)
	_, addr := startServer(t, func(c *Conn) error { return nil }, // never consumes
		WithOnDisconnect(func(c *Conn, err error) { disc <- err }))
	cl := dialTCP(t, addr)
	cl.Write([]byte("x"))
	time.Sleep(20 * time.Millisecond)
	cl.SetLinger(0)
	cl.Close()
	select {
	case err := <-disc:
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("OnDisconnect err = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnDisconnect after RST")
	}
}

func TestHandlerErrorAndPanicCloseOnlyThatConn(t *testing.T) {
	var discs sync.Map
	_, addr := startServer(t, func(c *Conn) error {
		b, _ := c.Reader().Next(1)
		switch b[0] {
		case 'p':
			panic("boom")
		case 'e':
			return errors.New("bad request")
		}
		c.Writer().WriteBinary(b)
		return c.Writer().Flush()
	}, WithOnDisconnect(func(c *Conn, err error) { discs.Store(c, err) }))
	good := dialTCP(t, addr)
	for _, b := range []string{"p", "e"} {
		bad := dialTCP(t, addr)
		bad.Write([]byte(b))
		bad.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bad.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("%s: client read %v; want EOF (closed)", b, err)
		}
	}
	good.Write([]byte("k"))
	good.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	if _, err := good.Read(buf); err != nil || buf[0] != 'k' {
		t.Fatalf("good conn: %v", err)
	}
	var panicked bool
	settle(2*time.Second, func() bool {
		discs.Range(func(_, v any) bool {
			if err, _ := v.(error); errors.Is(err, ErrHandlerPanic) {
				panicked = true
			}
			return true
		})
		return panicked
	})
	if !panicked {
		t.Fatal("OnDisconnect did not see ErrHandlerPanic")
	}
}

func TestIdleTimeout(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			disc := make(chan error, 4)
			_, addr := startServer(t, echoHandler, WithTrigger(trig), WithIdleTimeout(250*time.Millisecond),
				WithOnDisconnect(func(c *Conn, err error) { disc <- err }))
			// Active for longer than the timeout: stays open.
			cl := dialTCP(t, addr)
			cl.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1)
			// last is taken before each write: the server's last I/O
			// comes after it, so the idle close cannot come earlier than
			// the timeout after last however late this goroutine runs.
			var last time.Time
			for range 12 {
				last = time.Now()
				cl.Write([]byte("a"))
				if _, err := cl.Read(buf); err != nil {
					var reason error
					select {
					case reason = <-disc:
					case <-time.After(time.Second):
					}
					t.Fatalf("active conn closed: %v (server reason %v)", err, reason)
				}
				time.Sleep(20 * time.Millisecond)
			}
			// Idle: closed by the server.
			if _, err := cl.Read(buf); err != io.EOF {
				t.Fatalf("idle conn read = %v; want EOF", err)
			}
			if d := time.Since(last); d < 240*time.Millisecond || d > 3*time.Second {
				t.Fatalf("closed after %v", d)
			}
			if err := <-disc; !errors.Is(err, ErrIdleTimeout) {
				t.Fatalf("OnDisconnect err = %v", err)
			}
		})
	}
}

func TestReaderTimeout(t *testing.T) {
	errc := make(chan error, 1)
	_, addr := startServer(t, func(c *Conn) error {
		_, err := c.Reader().Next(10)
		errc <- err
		return err
	}, WithReadTimeout(50*time.Millisecond))
	cl := dialTCP(t, addr)
	cl.Write([]byte("12345"))
	select {
	case err := <-errc:
		if !isTimeout(err) {
			t.Fatalf("Next = %v; want timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read timeout did not fire")
	}
}

func TestShutdownWaitsForHandlers(t *testing.T) {
	started := make(chan struct{}, 1)
	flushed := make(chan error, 1)
	s, addr := startServer(t, func(c *Conn) error {
		b, _ := c.Reader().Next(c.Reader().Len())
		started <- struct{}{}
		time.Sleep(200 * time.Millisecond)
		c.Writer().WriteBinary(b)
		err := c.Writer().Flush()
		flushed <- err
		return err
	})
	cl := dialTCP(t, addr)
	idle := dialTCP(t, addr)
	cl.Write([]byte("slow"))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(cl)
	if err != nil || string(got) != "slow" {
		t.Fatalf("in-flight response = %q, %v (handler Flush: %v)", got, err, <-flushed)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle conn after Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	if s.Stats().LiveConns != 0 {
		t.Fatalf("live conns after Shutdown: %d", s.Stats().LiveConns)
	}
}

func TestShutdownContextExpires(t *testing.T) {
	s, addr, conns := startAccept(t)
	dialTCP(t, addr)
	c := recvConn(t, conns) // accept mode: owned by us, never closed
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v", err)
	}
	c.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := s.Shutdown(ctx2); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
}

func TestServeReturns(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewServer(echoHandler)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ln) }()
	time.Sleep(10 * time.Millisecond)
	ln.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve after listener Close = %v", err)
	}
	s.Close()
	if err := s.Serve(ln); err != ErrServerClosed {
		t.Fatalf("Serve after Close = %v", err)
	}
}

func TestInputBound(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			const bound = 64 << 10
			c, cl := acceptPair(t, WithTrigger(trig), WithMaxInput(bound))
			const total = 8 << 20
			src := bytes.Repeat([]byte("0123456789abcdef"), total/16)
			go cl.Write(src)
			// Nobody reads: buffering stops near the bound.
			time.Sleep(100 * time.Millisecond)
			if n := c.in.Len(); n > bound+maxReadSize+EdgeBudget {
				t.Fatalf("buffered %d bytes with bound %d", n, bound)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, total)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, src) {
				t.Fatal("data differs after backpressure")
			}
		})
	}
}

func TestNextBeyondInputBound(t *testing.T) {
	c, cl := acceptPair(t, WithMaxInput(4<<10))
	go cl.Write(make([]byte, 100<<10))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := c.Reader().Next(100 << 10); err != nil || len(b) != 100<<10 {
		t.Fatalf("Next beyond the bound: %d, %v", len(b), err)
	}
}

func TestCloseRaces(t *testing.T) {
	iters := 200
	if testing.Short() {
		iters = 50
	}
	_, addr, conns := startAccept(t, WithMaxOutput(8<<10))
	for range iters {
		cl := dialTCP(t, addr)
		go io.Copy(io.Discard, cl)
		cl.Write(make([]byte, 1000))
		c := recvConn(t, conns)
		var wg sync.WaitGroup
		var ops atomic.Int32
		run := func(f func()) {
			wg.Add(1)
			go func() { defer wg.Done(); f(); ops.Add(1) }()
		}
		run(func() { c.Read(make([]byte, 10)); c.Read(make([]byte, 10<<10)) })
		run(func() { c.Write(make([]byte, 256<<10)) })
		run(func() { c.Writer().WriteBinary(make([]byte, 100)); c.Writer().Flush() })
		run(func() { c.Reader().Next(1 << 20) })
		run(func() { c.SetDeadline(time.Now().Add(time.Millisecond)); c.SetReadDeadline(time.Unix(1, 0)) })
		run(func() { c.Close() })
		run(func() { c.Close(); c.CloseWrite() })
		waitGroup(t, &wg, 5*time.Second)
		cl.Close()
	}
}

func TestNoLeaks(t *testing.T) {
	cycles := 10000
	if testing.Short() {
		cycles = 1000
	}
	baseG := runtime.NumGoroutine()
	baseFD := countFDs(t)
	func() {
		s, addr := startServer(t, echoHandler, WithPollers(2))
		for i := range cycles {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
			if i%10 == 0 {
				c.Write([]byte("x"))
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				c.Read(make([]byte, 1))
			}
			c.Close()
		}
		if !settle(10*time.Second, func() bool { return s.Stats().LiveConns == 0 }) {
			t.Fatalf("live conns left: %d", s.Stats().LiveConns)
		}
		s.Close()
	}()
	if !settle(5*time.Second, func() bool { return countFDs(t) <= baseFD }) {
		t.Fatalf("fds: %d after, %d before", countFDs(t), baseFD)
	}
	checkGoroutines(t, baseG)
}
