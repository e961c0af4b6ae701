package netpoll

// More of the documented contracts, checked on every backend
// (testBackends(true): epoll, std, and uring where the kernel has it).
// Each test quotes the sentence it checks.

import (
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"

	"github.com/upoll/upoll/gopool"
)

// TestDocsSetIdleTimeoutAlone checks conn.go's SetIdleTimeout: "closes the
// connection after d without I/O; 0: never. The check runs on the poller
// at a quarter of the smallest idle timeout (within [1ms, 1s]), so the
// close comes between d and d plus that period", on a Server that has no
// idle timeout of its own (nothing sweeps until the call), in accept and
// handler mode; and that SetIdleTimeout(0) on a Server with
// WithIdleTimeout means never for that connection. The reason is
// ErrIdleTimeout (errors.go).
func TestDocsSetIdleTimeoutAlone(t *testing.T) {
	const d = 200 * time.Millisecond
	const slack = 1500 * time.Millisecond // the sweep's d/4 period, and a loaded machine
	for _, b := range testBackends(true) {
		for _, handler := range []bool{false, true} {
			name := b.String() + "/accept"
			if handler {
				name = b.String() + "/handler"
			}
			t.Run(name, func(t *testing.T) {
				type closed struct {
					at  time.Time
					err error
				}
				disc := make(chan closed, 1)
				set := make(chan time.Time, 1)
				opts := []Option{WithBackend(b),
					WithOnDisconnect(func(c *Conn, err error) { disc <- closed{time.Now(), err} }),
					WithOnConnect(func(c *Conn) {
						t0 := time.Now()
						if err := c.SetIdleTimeout(d); err != nil {
							t.Errorf("SetIdleTimeout: %v", err)
						}
						set <- t0
					}),
				}
				var h Handler
				if handler {
					h = func(c *Conn) error { return c.Reader().Skip(c.Reader().Len()) }
				}
				_, addr := startServer(t, h, opts...)
				cl := dialTCP(t, addr)
				var t0 time.Time
				select {
				case t0 = <-set:
				case <-time.After(5 * time.Second):
					t.Fatal("OnConnect did not run")
				}
				var got closed
				select {
				case got = <-disc:
				case <-time.After(5 * time.Second):
					t.Fatalf("SetIdleTimeout(%v): connection still open after 5 s", d)
				}
				el := got.at.Sub(t0)
				if !errors.Is(got.err, ErrIdleTimeout) {
					t.Errorf("OnDisconnect err = %v, want ErrIdleTimeout", got.err)
				}
				if el < d || el > d+slack {
					t.Errorf("closed %v after SetIdleTimeout(%v), want within [%v, %v]", el, d, d, d+slack)
				}
				cl.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := cl.Read(make([]byte, 1)); err == nil {
					t.Errorf("peer read a byte, want the end")
				}
			})
		}
		t.Run(b.String()+"/zero-means-never", func(t *testing.T) {
			disc := make(chan error, 1)
			_, addr := startServer(t, nil, WithBackend(b), WithIdleTimeout(50*time.Millisecond),
				WithOnConnect(func(c *Conn) {
					if err := c.SetIdleTimeout(0); err != nil {
						t.Errorf("SetIdleTimeout(0): %v", err)
					}
				}),
				WithOnDisconnect(func(c *Conn, err error) { disc <- err }))
			dialTCP(t, addr)
			select {
			case err := <-disc:
				t.Fatalf("SetIdleTimeout(0) under WithIdleTimeout(50ms): closed (%v), want never", err)
			case <-time.After(400 * time.Millisecond):
			}
		})
	}
}

// TestDocsReaderAtEOF checks reader.go's Reader doc: "Calls that need
// more bytes than are buffered block until ... the peer shuts down (then
// io.EOF once nothing is buffered, io.ErrUnexpectedEOF if some but too
// few bytes are)", for every Reader call, and that such a call consumes
// nothing. Conn.Read then returns exactly io.EOF (conn.go).
func TestDocsReaderAtEOF(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithBackend(b))
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := cl.Write([]byte("abc")); err != nil {
				t.Fatal(err)
			}
			cl.CloseWrite()
			r := c.Reader()
			short := map[string]func() error{
				"Peek(4)":       func() error { _, err := r.Peek(4); return err },
				"Next(4)":       func() error { _, err := r.Next(4); return err },
				"Skip(4)":       func() error { return r.Skip(4) },
				"ReadBinary(4)": func() error { _, err := r.ReadBinary(4); return err },
				"ReadString(4)": func() error { _, err := r.ReadString(4); return err },
				"Slice(4)":      func() error { _, err := r.Slice(4); return err },
				"Until('\\n')":  func() error { _, err := r.Until('\n'); return err },
			}
			for name, f := range short {
				if err := f(); err != io.ErrUnexpectedEOF {
					t.Errorf("%s with 3 bytes buffered after the peer's FIN: %v, want io.ErrUnexpectedEOF", name, err)
				}
				if r.Len() != 3 {
					t.Fatalf("after %s: Len = %d, want 3 (nothing consumed)", name, r.Len())
				}
			}
			if got, err := r.Next(3); err != nil || string(got) != "abc" {
				t.Fatalf("Next(3) = %q, %v", got, err)
			}
			r.Release()
			empty := map[string]func() error{
				"Peek(1)":       func() error { _, err := r.Peek(1); return err },
				"Next(1)":       func() error { _, err := r.Next(1); return err },
				"Skip(1)":       func() error { return r.Skip(1) },
				"ReadByte":      func() error { _, err := r.ReadByte(); return err },
				"ReadBinary(1)": func() error { _, err := r.ReadBinary(1); return err },
				"ReadString(1)": func() error { _, err := r.ReadString(1); return err },
				"Slice(1)":      func() error { _, err := r.Slice(1); return err },
				"Until('\\n')":  func() error { _, err := r.Until('\n'); return err },
				"Conn.Read":     func() error { _, err := c.Read(make([]byte, 4)); return err },
			}
			for name, f := range empty {
				if err := f(); err != io.EOF {
					t.Errorf("%s with nothing buffered after the peer's FIN: %v, want exactly io.EOF", name, err)
				}
			}
		})
	}
}

// TestDocsIsActive checks conn.go's IsActive: "reports whether the
// connection is open: not closed locally, not broken, and not shut down
// by the peer with all input consumed."
func TestDocsIsActive(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithBackend(b))
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if !c.IsActive() {
				t.Fatal("IsActive = false on a fresh connection")
			}
			cl.Write([]byte("ab"))
			cl.CloseWrite()
			time.Sleep(50 * time.Millisecond) // the FIN reaches the poller
			if !c.IsActive() {
				t.Error("IsActive = false with the peer's 2 bytes unread after its FIN, want true")
			}
			if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("Read after the bytes: %v, want io.EOF", err)
			}
			if c.IsActive() {
				t.Error("IsActive = true after Read returned io.EOF, want false")
			}

			c2, _ := acceptPair(t, WithBackend(b))
			c2.Close()
			if c2.IsActive() {
				t.Error("IsActive = true after Close, want false")
			}

			c3, cl3 := acceptPair(t, WithBackend(b))
			c3.SetDeadline(time.Now().Add(5 * time.Second))
			cl3.SetLinger(0)
			cl3.Close() // a reset
			if _, err := c3.Read(make([]byte, 1)); err == nil || err == io.EOF {
				t.Fatalf("Read after the peer's reset: %v, want the reset", err)
			}
			if c3.IsActive() {
				t.Error("IsActive = true after a Read reported the peer's reset, want false")
			}
		})
	}
}

// TestDocsCloseLingerBoundedByWriteTimeout checks conn.go's Close:
// "Output still queued (a Flush that returned below MaxOutput) is sent
// by the poller for up to 5 s (or the write timeout, if shorter) before
// the socket closes". With a write timeout of 200 ms and a peer that
// starts reading 1.5 s after the Close, the linger must have given up:
// the peer gets less than what was queued. Without a write timeout
// (5 s) the peer gets all of it.
func TestDocsCloseLingerBoundedByWriteTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("1.5 s of waiting per case, about 10 s in all")
	}
	const total = 8 << 20
	for _, b := range testBackends(true) {
		for _, wt := range []time.Duration{200 * time.Millisecond, 0} {
			if b == BackendStd && wt == 0 {
				continue // BackendStd's Flush sends everything before it returns: nothing is left queued
			}
			t.Run(b.String()+"/writetimeout="+wt.String(), func(t *testing.T) {
				c, cl := acceptPair(t, WithBackend(b), WithWriteTimeout(wt), WithMaxOutput(16<<20))
				cl.SetReadBuffer(16 << 10)
				w := c.Writer()
				if _, err := w.WriteBinary(make([]byte, total)); err != nil {
					t.Fatal(err)
				}
				if err := w.Flush(); err != nil && !(b == BackendStd && errors.Is(err, os.ErrDeadlineExceeded)) {
					t.Fatalf("Flush below MaxOutput: %v", err)
				}
				c.Close()
				time.Sleep(1500 * time.Millisecond)
				cl.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := io.Copy(io.Discard, cl)
				t.Logf("peer read %d of %d bytes, then %v", n, total, err)
				if wt > 0 && n >= total {
					t.Errorf("write timeout %v: the peer, reading 1.5 s after Close, got all %d bytes: the linger outlasted the write timeout", wt, n)
				}
				if wt == 0 && (n != total || err != nil) {
					t.Errorf("no write timeout: the peer got %d of %d bytes (%v), want all of them within the 5 s linger", n, total, err)
				}
			})
		}
	}
}

// TestDocsConfigStringIsUPOLL checks options.go's Config.String:
// "returns the effective configuration in the UPOLL syntax": on a native
// backend, the string of a Server's Config, given as UPOLL, makes a
// Server with the same Config.
func TestDocsConfigStringIsUPOLL(t *testing.T) {
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) {
			s, err := NewServer(echoHandler, WithBackend(b), WithTrigger(EdgeTriggered), WithPollers(2),
				WithReadTimeout(1500*time.Millisecond), WithMaxConns(7), WithMaxInput(100<<10), WithBufferBudget(9<<20+3))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			str := s.Config().String()
			t.Setenv(EnvVar, str)
			s2, err := NewServer(echoHandler)
			if err != nil {
				t.Fatalf("UPOLL=%s (a Config's String): %v", str, err)
			}
			defer s2.Close()
			c1, c2 := s.Config(), s2.Config()
			c1.set, c2.set = 0, 0
			c1.Pool, c2.Pool = nil, nil
			if !reflect.DeepEqual(c1, c2) {
				t.Errorf("UPOLL=%s gives %s", str, c2)
			}
		})
	}
}

// TestDocsReadTimeoutOpError checks conn.go's Read: "a deadline or read
// timeout gives a *net.OpError whose Err is os.ErrDeadlineExceeded", for
// a timeout from WithReadTimeout (not a deadline) and for a Reader call.
func TestDocsReadTimeoutOpError(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			c, _ := acceptPair(t, WithBackend(b), WithReadTimeout(50*time.Millisecond))
			for name, f := range map[string]func() error{
				"Read":    func() error { _, err := c.Read(make([]byte, 1)); return err },
				"Next(1)": func() error { _, err := c.Reader().Next(1); return err },
			} {
				start := time.Now()
				err := f()
				var oe *net.OpError
				if !errors.As(err, &oe) || oe.Err != os.ErrDeadlineExceeded {
					t.Errorf("%s under WithReadTimeout(50ms): %v (%T), want a *net.OpError with Err os.ErrDeadlineExceeded", name, err, err)
				}
				if el := time.Since(start); el < 50*time.Millisecond || el > 2*time.Second {
					t.Errorf("%s timed out after %v, want about 50ms", name, el)
				}
				if !c.IsActive() {
					t.Errorf("%s: a read timeout closed the connection", name)
				}
			}
			if !strings.Contains(c.Network(), "tcp") {
				t.Errorf("Network = %q", c.Network())
			}
		})
	}
}

// TestDocsHandoffNeedsNoPoolWorker checks where DispatchHandoff hands
// the poller when a handler blocks. options.go (DispatchHandoff): "the
// poller's duty passes to a new goroutine ... The goroutine that takes
// over is started afresh, not taken from the pool". doc.go and README
// said "handed to a pool goroutine": with the pool full (its only worker
// held), a handler that sleeps must still hand the loop off, and another
// connection of the same poller must be served meanwhile.
func TestDocsHandoffNeedsNoPoolWorker(t *testing.T) {
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) {
			pool, err := gopool.New(gopool.WithCapacity(1))
			if err != nil {
				t.Fatal(err)
			}
			release := make(chan struct{})
			t.Cleanup(func() { pool.Close() })
			t.Cleanup(func() { close(release) })
			s, addr := startServer(t, func(c *Conn) error {
				r := c.Reader()
				m, err := r.Next(r.Len())
				if err != nil {
					return err
				}
				if len(m) > 0 && m[0] == 's' {
					time.Sleep(2 * time.Second)
				}
				c.Writer().WriteBinary(m)
				r.Release()
				return c.Writer().Flush()
			}, WithBackend(b), WithPool(pool), WithPollers(1), WithDispatch(DispatchHandoff))
			a, bc := dialTCP(t, addr), dialTCP(t, addr)
			for _, c := range []net.Conn{a, bc} { // both registered, first runs done
				if err := roundTripWithin(t, c, "x", 3*time.Second); err != nil {
					t.Fatal(err)
				}
			}
			started := make(chan struct{})
			if err := pool.Go(func() { close(started); <-release }); err != nil {
				t.Fatal(err)
			}
			<-started // the pool's only worker is held: no pool goroutine is free
			h0 := s.Stats().Handoffs
			a.Write([]byte("sleep"))
			time.Sleep(50 * time.Millisecond) // a's handler sleeps on the poller
			start := time.Now()
			if err := roundTripWithin(t, bc, "hello", 3*time.Second); err != nil {
				t.Fatalf("second connection while the first's handler sleeps and the pool is full: %v", err)
			}
			if el := time.Since(start); el > 1500*time.Millisecond {
				t.Errorf("second connection answered after %v, want before the sleeping handler's 2 s end", el)
			}
			if h := s.Stats().Handoffs - h0; h == 0 {
				t.Error("Stats.Handoffs did not move: the blocked handler did not hand the loop off")
			}
		})
	}
}

// TestDocsStdStats checks options.go's BackendStd: "The API, timeouts,
// bounds, hooks and Stats are the same, except that the counters of a
// poller's loop (Waits, Parks, Wakeups, Events, MaxEventsPerWait,
// StaleEvents, the EAGAIN counts, Batches, BatchedRuns, Rescues and the
// hand-off counts) stay 0": after echo rounds on BackendStd those stay 0
// and the others (bytes, calls, runs, connections) count.
func TestDocsStdStats(t *testing.T) {
	s, addr := startServer(t, echoHandler, WithBackend(BackendStd))
	cl := dialTCP(t, addr)
	for i := 0; i < 5; i++ {
		if err := roundTripWithin(t, cl, "ping", 3*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The server counts a write once its call returns, which can be
	// after the client has the echo (CI saw BytesOut 16 of 20).
	testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BytesOut >= 20 })
	st := s.Stats()
	zero := map[string]uint64{"Waits": st.Waits, "Parks": st.Parks, "Wakeups": st.Wakeups, "Events": st.Events,
		"MaxEventsPerWait": st.MaxEventsPerWait, "StaleEvents": st.StaleEvents, "ReadEAGAIN": st.ReadEAGAIN,
		"WriteEAGAIN": st.WriteEAGAIN, "Batches": st.Batches, "BatchedRuns": st.BatchedRuns, "Rescues": st.Rescues,
		"Handoffs": st.Handoffs, "WatchdogHandoffs": st.WatchdogHandoffs}
	for k, v := range zero {
		if v != 0 {
			t.Errorf("BackendStd: Stats.%s = %d, want 0", k, v)
		}
	}
	counted := map[string]uint64{"BytesIn": st.BytesIn, "BytesOut": st.BytesOut, "ReadCalls": st.ReadCalls,
		"WriteCalls": st.WriteCalls, "HandlerRuns": st.HandlerRuns, "TotalConns": st.TotalConns}
	for k, v := range counted {
		if v == 0 {
			t.Errorf("BackendStd: Stats.%s = 0 after 5 echo rounds, want it counted", k)
		}
	}
	if st.BytesIn != 20 || st.BytesOut != 20 || st.LiveConns != 1 {
		t.Errorf("BackendStd: BytesIn %d, BytesOut %d, LiveConns %d; want 20, 20, 1", st.BytesIn, st.BytesOut, st.LiveConns)
	}
}
