package netpoll

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// transferSize is the bulk transfer of the read-ahead measurements.
const transferSize = 64 << 20

// readAll reads n bytes from r through a 32 KiB buffer (io.Copy's) and
// returns their CRC.
func readAll(r io.Reader, n int) (uint32, error) {
	buf := make([]byte, 32<<10)
	h := crc32.NewIEEE()
	for left := n; left > 0; {
		m, err := r.Read(buf[:min(len(buf), left)])
		h.Write(buf[:m])
		left -= m
		if err != nil {
			return h.Sum32(), err
		}
	}
	return h.Sum32(), nil
}

// sendAll writes n patterned bytes to w in 64 KiB writes and returns
// their CRC.
func sendAll(w io.Writer, n int) (uint32, error) {
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	h := crc32.NewIEEE()
	for left := n; left > 0; {
		p := chunk[:min(len(chunk), left)]
		if _, err := w.Write(p); err != nil {
			return h.Sum32(), err
		}
		h.Write(p)
		left -= len(p)
	}
	return h.Sum32(), nil
}

// BenchmarkReadAhead measures a 64 MiB transfer read through net.Conn
// Read on an accept-mode connection against the read-ahead (MaxInput),
// and Go's net for reference. docs/memory.md has the figures.
func BenchmarkReadAhead(b *testing.B) {
	b.Run("std", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		cl := dialTCP(b, ln.Addr().String())
		sc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer sc.Close()
		b.SetBytes(transferSize)
		for b.Loop() {
			readTransfer(b, sc, cl)
		}
	})
	for _, trig := range []Trigger{LevelTriggered, EdgeTriggered} {
		for _, size := range []int{4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 256 << 10, 4 << 20} {
			b.Run(fmt.Sprintf("%s/%dk", trig, size>>10), func(b *testing.B) {
				c, cl := acceptPair(b, WithTrigger(trig), WithMaxInput(size))
				b.SetBytes(transferSize)
				for b.Loop() {
					readTransfer(b, c, cl)
				}
			})
		}
	}
}

func readTransfer(b *testing.B, sc, cl net.Conn) {
	done := make(chan error, 1)
	go func() {
		_, err := sendAll(cl, transferSize)
		done <- err
	}()
	if _, err := readAll(sc, transferSize); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// TestReadAheadBound: an accept-mode connection that nobody reads holds
// no more than its read-ahead (plus one small read), whatever the peer
// sends; the bytes wait in the kernel and all arrive, in order, once
// read.
func TestReadAheadBound(t *testing.T) {
	skipStd(t, "read-ahead: BackendStd reads only when a reader asks")
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			s, addr, conns := startAccept(t, WithTrigger(trig))
			if got := s.Config().MaxInput; got != DefaultReadAhead {
				t.Fatalf("accept-mode MaxInput %d, want DefaultReadAhead %d", got, DefaultReadAhead)
			}
			cl := dialTCP(t, addr)
			c := recvConn(t, conns)
			const total = 4 << 20
			sent := make(chan uint32, 1)
			go func() {
				sum, _ := sendAll(cl, total)
				sent <- sum
			}()
			// Bounded wait for the poller to reach the bound and pause.
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().PausedByBound == 1 }) {
				t.Fatalf("not paused: buffered %d, stats %+v", c.in.Len(), s.Stats().PollerStats)
			}
			time.Sleep(50 * time.Millisecond) // a pause that did not hold would read on
			if n := c.in.Len(); n > DefaultReadAhead+minReadSize {
				t.Fatalf("buffered %d bytes with read-ahead %d", n, DefaultReadAhead)
			}
			if st := s.Stats(); st.BufferedIn != int64(c.in.Len()) {
				t.Fatalf("Stats.BufferedIn %d, buffered %d", st.BufferedIn, c.in.Len())
			}
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := readAll(c, total)
			if err != nil {
				t.Fatal(err)
			}
			if want := <-sent; got != want {
				t.Fatalf("crc %08x, want %08x: bytes lost or reordered across pause/resume", got, want)
			}
			c.Close()
			if !testutil.WaitFor(5*time.Second, func() bool {
				st := s.Stats()
				return st.BufferedIn == 0 && st.PausedByBound == 0 && st.LiveConns == 0
			}) {
				t.Fatalf("counters after close: %+v", s.Stats().PollerStats)
			}
		})
	}
}

// TestReadAheadNextBeyond: a Reader waiting for more than the read-ahead
// gets it (the bound rises to what it waits for), and a Read blocked on
// a paused connection is still woken by a deadline and by Close.
func TestReadAheadNextBeyond(t *testing.T) {
	c, cl := acceptPair(t)
	src := bytes.Repeat([]byte("abcdefgh"), 1<<16) // 512 KiB
	go cl.Write(src)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := c.Reader().Next(len(src))
	if err != nil || !bytes.Equal(b, src) {
		t.Fatalf("Next(%d): %d bytes, %v", len(src), len(b), err)
	}
	c.Reader().Release()
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !testutil.IsTimeout(err) {
		t.Fatalf("Read past the deadline: %v", err)
	}
}

// BenchmarkHandlerBounds measures a 64 MiB echo through a handler-mode
// Server against its per-connection bounds (MaxInput = MaxOutput):
// the client writes and reads back at the same time.
func BenchmarkHandlerBounds(b *testing.B) {
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("%dk", size>>10), func(b *testing.B) {
			_, addr := startServer(b, echoHandler, WithMaxInput(size), WithMaxOutput(size))
			cl := dialTCP(b, addr)
			b.SetBytes(transferSize)
			for b.Loop() {
				readTransfer(b, cl, cl)
			}
		})
	}
}

// BenchmarkPipelinedEcho measures 16 connections that each stream 4 MiB
// of 64-byte messages (written 16 KiB at a time, read back concurrently)
// through an echo handler, against the per-connection bounds, and
// reports the most bytes the server held buffered (sampled every ms).
func BenchmarkPipelinedEcho(b *testing.B) {
	const conns, per = 16, 4 << 20
	for _, size := range []int{64 << 10, 256 << 10, 1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("%dk", size>>10), func(b *testing.B) {
			s, addr := startServer(b, echoHandler, WithMaxInput(size), WithMaxOutput(size))
			cls := make([]net.Conn, conns)
			for i := range cls {
				cls[i] = dialTCP(b, addr)
			}
			stop := make(chan struct{})
			peak := make(chan int64, 1)
			go func() {
				var m int64
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						peak <- m
						return
					case <-tick.C:
						st := s.Stats()
						m = max(m, st.BufferedIn+st.BufferedOut)
					}
				}
			}()
			b.SetBytes(conns * per)
			for b.Loop() {
				errs := make(chan error, conns)
				for _, cl := range cls {
					go func() {
						go sendAll(cl, per)
						_, err := io.CopyN(io.Discard, cl, per)
						errs <- err
					}()
				}
				for range conns {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
			}
			close(stop)
			b.ReportMetric(float64(<-peak)/1024, "peakKiB")
		})
	}
}

// TestAcceptEchoNeverReadingPeer: an echo on net.Conn Read and Write in
// accept mode, against a peer that sends and never reads, holds no more
// than its read-ahead in and one Write's remainder out: Write blocks
// once the kernel's buffers are full, as with Go's net.
func TestAcceptEchoNeverReadingPeer(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			s, addr, conns := startAccept(t, WithTrigger(trig))
			cl := dialTCP(t, addr)
			cl.SetReadBuffer(4 << 10)
			c := recvConn(t, conns)
			const buf = 16 << 10
			echoed := make(chan error, 1)
			go func() {
				p := make([]byte, buf)
				for {
					n, err := c.Read(p)
					if n > 0 {
						if _, werr := c.Write(p[:n]); werr != nil {
							echoed <- werr
							return
						}
					}
					if err != nil {
						echoed <- err
						return
					}
				}
			}()
			go sendAll(cl, 64<<20) // blocks once every buffer is full
			var peakIn, peakOut int64
			stuck := testutil.WaitFor(20*time.Second, func() bool {
				before := s.Stats().BytesIn
				time.Sleep(100 * time.Millisecond)
				st := s.Stats()
				peakIn, peakOut = max(peakIn, st.BufferedIn), max(peakOut, st.BufferedOut)
				return st.BytesIn == before && st.BytesIn > 0
			})
			if !stuck {
				t.Fatalf("the server kept reading from a peer that never reads: %+v", s.Stats().PollerStats)
			}
			// A Read of buf bytes that waits raises the read-ahead to buf
			// (DefaultReadAhead's contract): a sample taken while it waits
			// may see that much.
			if peakIn > max(DefaultReadAhead, buf)+minReadSize || peakOut > buf {
				t.Fatalf("held %d in, %d out: want at most the read-ahead %d (or a waiting Read's %d) and one Write of %d",
					peakIn, peakOut, DefaultReadAhead, buf, buf)
			}
			c.Close()
			<-echoed
		})
	}
}
