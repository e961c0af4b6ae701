package netpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// outflowFrame builds a frame: id, seq, length, then a payload that is a
// function of (id, seq, i), so a torn, duplicated or reordered frame is
// seen by the reader.
func outflowFrame(id, seq, n int) []byte {
	b := make([]byte, 9+n)
	b[0] = byte(id)
	binary.BigEndian.PutUint32(b[1:], uint32(seq))
	binary.BigEndian.PutUint32(b[5:], uint32(n))
	for i := range n {
		b[9+i] = byte(id*31 + seq*7 + i)
	}
	return b
}

// outflowReadFrames reads frames of `writers` writers until EOF and checks
// each writer's frames arrive whole, once and in order; slow makes the
// reader pause now and then so that output queues.
func outflowReadFrames(pc net.Conn, writers int, slow bool, seed uint64) ([]int, error) {
	next := make([]int, writers)
	rng := rand.New(rand.NewPCG(seed, 1))
	hdr := make([]byte, 9)
	pc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if slow && rng.IntN(16) == 0 {
			time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
		if _, err := io.ReadFull(pc, hdr); err != nil {
			if err == io.EOF {
				return next, nil
			}
			return next, fmt.Errorf("header: %w", err)
		}
		id, seq, n := int(hdr[0]), int(binary.BigEndian.Uint32(hdr[1:])), int(binary.BigEndian.Uint32(hdr[5:]))
		if id >= writers || seq != next[id] || n > 1<<20 {
			return next, fmt.Errorf("frame id %d seq %d len %d, want seq %v", id, seq, n, next)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(pc, body); err != nil {
			return next, fmt.Errorf("body: %w", err)
		}
		if !bytes.Equal(body, outflowFrame(id, seq, n)[9:]) {
			return next, fmt.Errorf("frame id %d seq %d torn", id, seq)
		}
		next[id]++
	}
}

// TestOutflowConcurrentWriters: several goroutines write frames on one
// accepted connection with Write, Writer+Flush and Writer+FlushAsync
// while the peer reads slowly (output queues, the poller sends on
// EPOLLOUT); then Close. Every frame arrives once, whole, in order.
func TestOutflowConcurrentWriters(t *testing.T) {
	for _, trig := range allTriggers {
		for _, mo := range []int{4 << 10, 64 << 10} {
			t.Run(fmt.Sprintf("%v/max%d", trig, mo), func(t *testing.T) {
				_, addr, conns := startAccept(t, WithTrigger(trig), WithMaxOutput(mo), WithPollers(1))
				for round := range 4 {
					pc := dialTCP(t, addr)
					c := recvConn(t, conns)
					const writers, frames = 6, 150
					res := make(chan error, 1)
					var got []int
					go func() {
						var err error
						got, err = outflowReadFrames(pc, writers, true, uint64(round))
						res <- err
					}()
					var wg sync.WaitGroup
					errs := make(chan error, writers)
					for id := range writers {
						wg.Go(func() {
							rng := rand.New(rand.NewPCG(uint64(id), uint64(round)))
							w := c.Writer()
							for seq := range frames {
								f := outflowFrame(id, seq, rng.IntN(12<<10))
								var err error
								switch (id + seq) % 3 {
								case 0:
									_, err = c.Write(f)
								case 1:
									if _, err = w.WriteBinary(f); err == nil {
										err = w.Flush()
									}
								case 2:
									if _, err = w.WriteBinary(f); err == nil {
										err = w.FlushAsync()
									}
								}
								if err != nil {
									errs <- fmt.Errorf("writer %d seq %d: %w", id, seq, err)
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
					c.Close()
					select {
					case err := <-res:
						if err != nil {
							t.Fatalf("round %d: %v", round, err)
						}
					case <-time.After(30 * time.Second):
						t.Fatalf("round %d: reader stuck", round)
					}
					for id, n := range got {
						if n != frames {
							t.Fatalf("round %d: writer %d: %d frames, want %d", round, id, n, frames)
						}
					}
				}
			})
		}
	}
}

// TestOutflowHandlerEcho: a handler echoes with Flush over a small
// MaxOutput while the client writes and reads concurrently (the
// handler's Flush races the poller's EPOLLOUT send). Every byte comes
// back in order. Every trigger and every blocking-capable dispatch.
func TestOutflowHandlerEcho(t *testing.T) {
	for _, trig := range allTriggers {
		for _, d := range []Dispatch{DispatchHandoff, DispatchPool, DispatchEach} {
			t.Run(fmt.Sprintf("%v/%v", trig, d), func(t *testing.T) {
				_, addr := startServer(t, echoHandler, WithTrigger(trig), WithDispatch(d), WithMaxOutput(8<<10), WithMaxInput(16<<10), WithPollers(1))
				for round := range 3 {
					pc := dialTCP(t, addr)
					const total = 3 << 20
					src := make([]byte, total)
					for i := range src {
						src[i] = byte(i*7 + i>>10 + round)
					}
					werr := make(chan error, 1)
					go func() {
						rng := rand.New(rand.NewPCG(uint64(round), 9))
						for off := 0; off < total; {
							n := min(total-off, 1+rng.IntN(64<<10))
							if _, err := pc.Write(src[off : off+n]); err != nil {
								werr <- err
								return
							}
							off += n
						}
						werr <- nil
					}()
					pc.SetReadDeadline(time.Now().Add(30 * time.Second))
					got := make([]byte, total)
					rng := rand.New(rand.NewPCG(uint64(round), 3))
					for off := 0; off < total; {
						n, err := pc.Read(got[off:min(total, off+1+rng.IntN(32<<10))])
						if err != nil {
							t.Fatalf("round %d: read at %d: %v", round, off, err)
						}
						off += n
						if rng.IntN(64) == 0 {
							time.Sleep(time.Millisecond)
						}
					}
					if err := <-werr; err != nil {
						t.Fatal(err)
					}
					if i := firstDiff(got, src); i >= 0 {
						t.Fatalf("round %d: echo differs at byte %d", round, i)
					}
					pc.Close()
				}
			})
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestOutflowInlineLargeFlush: an inline handler answers with more than
// MaxOutput. Its Flush used to sleep on the poller goroutine, the only one
// that would send on EPOLLOUT and wake it: it blocked for good, and the
// poller's other connections with it. It now returns ErrWouldBlock at
// once, the output stays queued, and the poller sends all of it once the
// handler returns; the peer reads every byte, in order. The handler then
// closes the connection on the next input: the lingering close sends
// what is still queued (one-shot must re-arm EPOLLOUT for that).
func TestOutflowInlineLargeFlush(t *testing.T) {
	skipStd(t, "no poller and no inline dispatch: Flush writes on the handler's goroutine until the peer has it all")
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			const total = 16 << 20
			flushed := make(chan error, 1)
			var runs atomic.Int32
			_, addr := startServer(t, func(c *Conn) error {
				r := c.Reader()
				if err := r.Skip(r.Len()); err != nil {
					return err
				}
				if runs.Add(1) > 1 {
					return c.Close() // "bye": close with output still queued
				}
				w := c.Writer()
				buf, err := w.Malloc(total)
				if err != nil {
					return err
				}
				for i := range buf {
					buf[i] = byte(i)
				}
				err = w.Flush()
				flushed <- err
				if err == ErrWouldBlock {
					return nil // queued: the poller sends it
				}
				return err
			}, WithTrigger(trig), WithDispatch(DispatchInline), WithMaxOutput(64<<10), WithPollers(1))
			pc := dialTCP(t, addr)
			pc.Write([]byte("go"))
			select {
			case err := <-flushed:
				if err != nil && err != ErrWouldBlock {
					t.Fatalf("Flush = %v, want nil or ErrWouldBlock", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Flush did not return")
			}
			pc.Write([]byte("bye"))
			pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(pc)
			if err != nil || len(got) != total {
				t.Fatalf("peer read %d of %d bytes: %v", len(got), total, err)
			}
			for i, b := range got {
				if b != byte(i) {
					t.Fatalf("byte %d is %d, want %d", i, b, byte(i))
				}
			}
		})
	}
}

// TestOutflowWriteDeadline: a Write toward a peer that does not read
// fails at its deadline; n counts what will go out. The connection stays
// usable: once the peer reads, Write(p[n:]) and a second message go out
// and the peer gets exactly p then the message, then EOF after Close.
func TestOutflowWriteDeadline(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig), WithMaxOutput(32<<10), WithPollers(1))
			for round := range 2 {
				pc := dialTCP(t, addr)
				c := recvConn(t, conns)
				p := make([]byte, 8<<20)
				for i := range p {
					p[i] = byte(i>>8 + i + round)
				}
				c.SetWriteDeadline(time.Now().Add(30 * time.Millisecond))
				n, err := c.Write(p)
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("Write: n=%d err=%v, want a timeout", n, err)
				}
				c.SetWriteDeadline(time.Time{})
				want := append(append([]byte(nil), p...), []byte("tail-message")...)
				rd := make(chan error, 1)
				var got []byte
				go func() {
					pc.SetReadDeadline(time.Now().Add(20 * time.Second))
					var err error
					got, err = io.ReadAll(pc)
					rd <- err
				}()
				wdone := make(chan error, 1)
				go func() {
					if _, err := c.Write(p[n:]); err != nil {
						wdone <- err
						return
					}
					_, err := c.Write([]byte("tail-message"))
					wdone <- err
				}()
				select {
				case err := <-wdone:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("Write after a passed deadline never returned")
				}
				c.Close()
				if err := <-rd; err != nil {
					t.Fatalf("round %d: peer read: %v (%d bytes)", round, err, len(got))
				}
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("round %d: peer got %d bytes, want %d, differ at %d", round, len(got), len(want), i)
				}
			}
		})
	}
}

// TestOutflowCloseWriteOrder: queued output (Flush below MaxOutput,
// FlushAsync, a timed-out Write) then CloseWrite: the peer gets every
// byte, then EOF; the connection still reads afterwards.
func TestOutflowCloseWriteOrder(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig), WithMaxOutput(8<<20), WithPollers(1))
			for round := range 12 {
				pc := dialTCP(t, addr)
				c := recvConn(t, conns)
				total := 1<<20 + round*4099
				w := c.Writer()
				buf, err := w.Malloc(total)
				if err != nil {
					t.Fatal(err)
				}
				for i := range buf {
					buf[i] = byte(i*3 + round)
				}
				want := append([]byte(nil), buf...)
				switch round % 3 {
				case 0:
					err = w.Flush()
				case 1:
					err = w.FlushAsync()
				case 2:
					// Unflushed: CloseWrite publishes it.
				}
				if err != nil {
					t.Fatal(err)
				}
				rd := make(chan error, 1)
				var got []byte
				go func() {
					if round%2 == 0 {
						time.Sleep(5 * time.Millisecond)
					}
					pc.SetReadDeadline(time.Now().Add(20 * time.Second))
					var err error
					got, err = io.ReadAll(pc)
					rd <- err
				}()
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write([]byte("x")); !errors.Is(err, ErrWriteShutdown) {
					t.Fatalf("Write after CloseWrite: %v", err)
				}
				if err := <-rd; err != nil {
					t.Fatalf("round %d: peer: %v after %d bytes", round, err, len(got))
				}
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("round %d: peer got %d bytes, want %d, differ at %d", round, len(got), len(want), i)
				}
				pc.Write([]byte("ping"))
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				b := make([]byte, 4)
				if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
					t.Fatalf("round %d: read after CloseWrite: %q %v", round, b, err)
				}
				c.Close()
			}
		})
	}
}

// TestOutflowCloseAfterAsync: writers FlushAsync frames and the last
// one Closes at once: the lingering close sends every queued byte.
func TestOutflowCloseAfterAsync(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig), WithMaxOutput(1<<20), WithPollers(1))
			for round := range 30 {
				pc := dialTCP(t, addr)
				c := recvConn(t, conns)
				res := make(chan error, 1)
				var got []int
				go func() {
					var err error
					got, err = outflowReadFrames(pc, 3, round%2 == 0, uint64(round))
					res <- err
				}()
				var wg sync.WaitGroup
				for id := range 3 {
					wg.Go(func() {
						w := c.Writer()
						for seq := range 20 {
							w.WriteBinary(outflowFrame(id, seq, 1000+id*500+seq*37))
							if err := w.FlushAsync(); err != nil {
								t.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				c.Close()
				if err := <-res; err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				for id, n := range got {
					if n != 20 {
						t.Fatalf("round %d: writer %d: %d frames", round, id, n)
					}
				}
			}
		})
	}
}

// TestOutflowPeerReset: the peer resets the connection while a large
// Flush (and a Write) wait for room: both return an error.
func TestOutflowPeerReset(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig), WithMaxOutput(64<<10), WithPollers(1))
			for round := range 4 {
				pc := dialTCP(t, addr)
				c := recvConn(t, conns)
				done := make(chan error, 2)
				go func() {
					w := c.Writer()
					if _, err := w.Malloc(32 << 20); err != nil {
						done <- err
						return
					}
					done <- w.Flush()
				}()
				go func() {
					_, err := c.Write(make([]byte, 32<<20))
					done <- err
				}()
				time.Sleep(time.Duration(5+round*10) * time.Millisecond)
				if round%2 == 1 {
					io.CopyN(io.Discard, pc, 1<<20)
				}
				pc.SetLinger(0)
				pc.Close()
				for range 2 {
					select {
					case err := <-done:
						if err == nil {
							t.Fatalf("round %d: a write succeeded after reset", round)
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("round %d: a writer is still blocked after the peer reset", round)
					}
				}
				c.Close()
			}
		})
	}
}
