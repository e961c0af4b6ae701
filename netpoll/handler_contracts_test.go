package netpoll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// handlerModes are the dispatch modes these tests compare.
var handlerModes = []struct {
	name string
	d    Dispatch
}{
	{"handoff", DispatchHandoff},
	{"pool", DispatchPool},
	{"each", DispatchEach},
	{"inline", DispatchInline},
}

// readAllTimeout reads c to EOF within d.
func readAllWithin(t *testing.T, c net.Conn, d time.Duration) ([]byte, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	return io.ReadAll(c)
}

// TestHookInlineOnConnectBigGreeting: an OnConnect hook that writes a
// greeting larger than the socket buffer, then closes. Under
// DispatchInline the hook ran on the poller as a plain call, so its Write
// waited for EPOLLOUT that only this (blocked) poller would handle: the
// poller and its connections froze until the write timeout. Now the hook
// is held to the inline contract: its Write returns at once, nil or
// ErrWouldBlock with n counting what was queued, and the peer gets exactly
// those n bytes, then EOF. The other modes send the whole greeting.
func TestHookInlineOnConnectBigGreeting(t *testing.T) {
	for _, m := range handlerModes {
		t.Run(m.name, func(t *testing.T) {
			greeting := bytes.Repeat([]byte("g"), 8<<20)
			type result struct {
				n   int
				err error
			}
			wrote := make(chan result, 1)
			_, addr := startServer(t, func(c *Conn) error {
				c.Reader().Skip(c.Reader().Len())
				return c.Reader().Release()
			}, WithPollers(1), WithDispatch(m.d), WithWriteTimeout(4*time.Second),
				WithOnConnect(func(c *Conn) {
					n, err := c.Write(greeting)
					wrote <- result{n, err}
					c.Close()
				}))
			cl := dialTCP(t, addr)
			got, err := readAllWithin(t, cl, 8*time.Second)
			r := <-wrote
			switch {
			case r.err == nil && r.n == len(greeting):
			case r.err == ErrWouldBlock && m.d == DispatchInline:
			default:
				t.Fatalf("OnConnect's Write = %d, %v", r.n, r.err)
			}
			if len(got) != r.n || err != nil {
				t.Fatalf("peer got %d bytes (%v), Write reported %d", len(got), err, r.n)
			}
		})
	}
}

// TestInlineForeignWriter: while a handler runs, another
// goroutine writes to the same connection more than MaxOutput plus the
// socket buffer. That goroutine is no inline handler and may wait; it
// must not get ErrWouldBlock.
func TestInlineForeignWriter(t *testing.T) {
	for _, m := range handlerModes {
		t.Run(m.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte("w"), 4<<20)
			werr := make(chan error, 1)
			var once sync.Once
			_, addr := startServer(t, func(c *Conn) error {
				c.Reader().Skip(c.Reader().Len())
				c.Reader().Release()
				once.Do(func() {
					started := make(chan struct{})
					go func() {
						close(started)
						_, err := c.Write(payload)
						werr <- err
					}()
					<-started
					time.Sleep(300 * time.Millisecond) // the handler is busy meanwhile
				})
				return nil
			}, WithPollers(1), WithDispatch(m.d), WithMaxOutput(64<<10))
			cl := dialTCP(t, addr)
			if _, err := cl.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			// Let the writer fill the socket and hit the bound while the
			// handler sleeps, then read everything.
			time.Sleep(100 * time.Millisecond)
			cl.SetReadDeadline(time.Now().Add(8 * time.Second))
			got := 0
			buf := make([]byte, 64<<10)
			for got < len(payload) {
				n, err := cl.Read(buf)
				got += n
				if err != nil {
					break
				}
			}
			select {
			case err := <-werr:
				if err != nil {
					t.Fatalf("foreign Write while handler runs: %v (client got %d of %d)", err, got, len(payload))
				}
			case <-time.After(8 * time.Second):
				t.Fatal("foreign Write did not return")
			}
			if got != len(payload) {
				t.Fatalf("client got %d of %d", got, len(payload))
			}
		})
	}
}

// TestHandlerContracts checks the handler contracts in each mode.
func TestHandlerContracts(t *testing.T) {
	for _, m := range handlerModes {
		t.Run(m.name, func(t *testing.T) {
			t.Run("CloseInHandlerQueuedOutput", func(t *testing.T) {
				for _, retErr := range []bool{false, true} {
					big := bytes.Repeat([]byte("o"), 2<<20)
					var disc atomic.Int32
					discCh := make(chan error, 4)
					_, addr := startServer(t, func(c *Conn) error {
						c.Reader().Skip(c.Reader().Len())
						c.Reader().Release()
						w := c.Writer()
						w.WriteBinary(big)
						if err := w.Flush(); err != nil && !errors.Is(err, ErrWouldBlock) {
							return err
						}
						c.Close()
						if retErr {
							return errors.New("boom")
						}
						return nil
					}, WithDispatch(m.d), WithOnDisconnect(func(c *Conn, err error) {
						disc.Add(1)
						discCh <- err
					}))
					cl := dialTCP(t, addr)
					cl.Write([]byte("go"))
					time.Sleep(50 * time.Millisecond) // peer slow to read
					got, err := readAllWithin(t, cl, 8*time.Second)
					if len(got) != len(big) {
						t.Fatalf("retErr=%v: got %d of %d (%v)", retErr, len(got), len(big), err)
					}
					select {
					case <-discCh:
					case <-time.After(3 * time.Second):
						t.Fatal("no OnDisconnect")
					}
					time.Sleep(20 * time.Millisecond)
					if n := disc.Load(); n != 1 {
						t.Fatalf("OnDisconnect ran %d times", n)
					}
				}
			})
			t.Run("LeftInputThenMore", func(t *testing.T) {
				_, addr := startServer(t, func(c *Conn) error {
					r := c.Reader()
					if r.Len() < 10 {
						return nil // wait for the rest
					}
					b, _ := r.Next(10)
					c.Write(b)
					return r.Release()
				}, WithDispatch(m.d))
				cl := dialTCP(t, addr)
				cl.Write([]byte("01234"))
				time.Sleep(30 * time.Millisecond)
				cl.Write([]byte("56789"))
				cl.SetReadDeadline(time.Now().Add(3 * time.Second))
				buf := make([]byte, 10)
				if _, err := io.ReadFull(cl, buf); err != nil || string(buf) != "0123456789" {
					t.Fatalf("got %q, %v", buf, err)
				}
			})
			t.Run("EOFNoConsume", func(t *testing.T) {
				var runs atomic.Int32
				disc := make(chan struct{}, 2)
				_, addr := startServer(t, func(c *Conn) error {
					runs.Add(1)
					return nil
				}, WithDispatch(m.d), WithOnDisconnect(func(*Conn, error) { disc <- struct{}{} }))
				cl := dialTCP(t, addr)
				cl.Write([]byte("abc"))
				time.Sleep(20 * time.Millisecond)
				cl.CloseWrite()
				if _, err := readAllWithin(t, cl, 3*time.Second); err != nil {
					t.Fatalf("server did not close after EOF: %v (runs %d)", err, runs.Load())
				}
				select {
				case <-disc:
				case <-time.After(3 * time.Second):
					t.Fatal("no OnDisconnect")
				}
				if n := runs.Load(); n > 10 {
					t.Fatalf("handler ran %d times", n)
				}
			})
			t.Run("GreetAndClose", func(t *testing.T) {
				var runs, disc atomic.Int32
				_, addr := startServer(t, func(c *Conn) error {
					runs.Add(1)
					return nil
				}, WithDispatch(m.d), WithOnConnect(func(c *Conn) {
					c.Write([]byte("hello\n"))
					c.Close()
				}), WithOnDisconnect(func(*Conn, error) { disc.Add(1) }))
				cl := dialTCP(t, addr)
				cl.Write([]byte("zzz"))
				got, err := readAllWithin(t, cl, 3*time.Second)
				if string(got) != "hello\n" {
					t.Fatalf("got %q %v", got, err)
				}
				time.Sleep(50 * time.Millisecond)
				if runs.Load() != 0 || disc.Load() != 1 {
					t.Fatalf("runs %d disc %d", runs.Load(), disc.Load())
				}
			})
			t.Run("DialerGreetAndClose", func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				var runs, disc atomic.Int32
				discCh := make(chan struct{}, 2)
				s, err := NewServer(func(c *Conn) error {
					runs.Add(1)
					return nil
				}, WithDispatch(m.d), WithOnConnect(func(c *Conn) {
					c.Write([]byte("hello\n"))
					c.Close()
				}), WithOnDisconnect(func(*Conn, error) { disc.Add(1); discCh <- struct{}{} }))
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				acc := make(chan net.Conn, 1)
				go func() {
					c, err := ln.Accept()
					if err == nil {
						c.Write([]byte("early"))
						acc <- c
					}
				}()
				d := Dialer{Server: s, Timeout: 3 * time.Second}
				if _, err := d.DialContext(context.Background(), "tcp", ln.Addr().String()); err != nil {
					t.Fatal(err)
				}
				var pc net.Conn
				select {
				case pc = <-acc:
				case <-time.After(3 * time.Second):
					t.Fatal("no accept")
				}
				defer pc.Close()
				got, err := readAllWithin(t, pc, 3*time.Second)
				if string(got) != "hello\n" {
					t.Fatalf("got %q %v", got, err)
				}
				select {
				case <-discCh:
				case <-time.After(3 * time.Second):
					t.Fatal("no OnDisconnect")
				}
				time.Sleep(30 * time.Millisecond)
				if runs.Load() != 0 || disc.Load() != 1 {
					t.Fatalf("runs %d disc %d", runs.Load(), disc.Load())
				}
			})
		})
	}
}

// TestServerCloseWhileHandlersRun: Server.Close while handlers block
// in a read returns, wakes them, and each OnDisconnect runs once.
func TestServerCloseWhileHandlersRun(t *testing.T) {
	for _, m := range handlerModes {
		if m.d == DispatchInline {
			continue // inline handlers must not wait
		}
		t.Run(m.name, func(t *testing.T) {
			var disc atomic.Int32
			entered := make(chan struct{}, 8)
			s, err := NewServer(func(c *Conn) error {
				entered <- struct{}{}
				_, err := c.Reader().Next(1 << 20) // blocks: never that much
				return err
			}, WithDispatch(m.d), WithOnDisconnect(func(*Conn, error) { disc.Add(1) }))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := s.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(ln)
			for i := 0; i < 4; i++ {
				cl := dialTCP(t, ln.Addr().String())
				cl.Write([]byte("x"))
			}
			for i := 0; i < 4; i++ {
				select {
				case <-entered:
				case <-time.After(3 * time.Second):
					t.Fatal("handler did not run")
				}
			}
			done := make(chan struct{})
			go func() { s.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Server.Close hung while handlers ran")
			}
			deadline := time.Now().Add(3 * time.Second)
			for disc.Load() < 4 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(20 * time.Millisecond)
			if n := disc.Load(); n != 4 {
				t.Fatalf("OnDisconnect ran %d times, want 4", n)
			}
		})
	}
}
