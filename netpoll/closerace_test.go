package netpoll

import (
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestFlushAsyncCloseRefs: FlushAsync racing Close on another goroutine.
// queueFlush took the flush queue's reference with incref, which fails
// once the closed bit is set even though the caller holds a reference;
// the failure was ignored and sendQueued dropped a reference never taken
// (the word went below zero, and the connection could be destroyed while
// a reference was still held). Once everything has settled, each
// connection's word must be exactly fdClosed: closed, no reference.
func TestFlushAsyncCloseRefs(t *testing.T) {
	skipStd(t, "FlushAsync is Flush without a poller")
	_, addr, conns := startAccept(t, WithPollers(1))
	const rounds = 400
	const par = 8
	bad := 0
	for i := 0; i < rounds && bad == 0; i++ {
		var cs [par]*Conn
		for k := range par {
			dialTCP(t, addr)
			cs[k] = recvConn(t, conns)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k, c := range cs {
			w := c.Writer()
			if _, err := w.WriteBinary([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			spin := (i*par + k) % 64
			wg.Add(2)
			go closeAfter(&wg, c, start, spin)
			go func() {
				defer wg.Done()
				<-start
				w.FlushAsync()
			}()
		}
		close(start)
		wg.Wait()
		for _, c := range cs {
			// The lingering close ends once "hello" is sent (see
			// TestLingerFinishesAfterSend), well within the wait.
			dl := time.Now().Add(2 * time.Second)
			for c.fdst.v.Load() != fdClosed && time.Now().Before(dl) {
				time.Sleep(time.Millisecond)
			}
			if v := c.fdst.v.Load(); v != fdClosed {
				bad++
				t.Errorf("round %d: fd state %#x after FlushAsync raced Close, want %#x (closed, no reference); flags %#x", i, v, fdClosed, c.flags.Load())
			}
		}
	}
}

// TestLingerFinishesAfterSend: Close with output queued lingers, and the
// lingering close must finish (the peer sees EOF) as soon as the output
// is sent. linger looks at out once, right after setting fLinger; a
// sender already inside writeOut (here a Flush on another goroutine,
// which holds emu, so linger's updateEvents only marks the mask stale and
// the writer applies it with the output gone: no EPOLLOUT) empties out
// after that look. Before outSent, nobody then finished the close: the
// peer waited for the linger timer (5 s).
func TestLingerFinishesAfterSend(t *testing.T) {
	skipStd(t, "no lingering close without a poller")
	_, addr, conns := startAccept(t, WithPollers(1))
	const rounds = 200
	const par = 8
	payload := make([]byte, 64<<10)
	bad := 0
	for i := 0; i < rounds && bad == 0; i++ {
		var cs [par]*Conn
		var peers [par]*net.TCPConn
		for k := range par {
			peers[k] = dialTCP(t, addr)
			cs[k] = recvConn(t, conns)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		eofAfter := make([]time.Duration, par)
		for k, c := range cs {
			w := c.Writer()
			if _, err := w.WriteBinary(payload); err != nil {
				t.Fatal(err)
			}
			spin := (i*par + k) % 32
			wg.Add(3)
			go closeAfter(&wg, c, start, spin)
			go func() {
				defer wg.Done()
				<-start
				w.Flush()
			}()
			go func() {
				defer wg.Done()
				pc := peers[k]
				<-start
				t0 := time.Now()
				pc.SetReadDeadline(time.Now().Add(3 * time.Second))
				_, err := io.Copy(io.Discard, pc)
				if err != nil {
					eofAfter[k] = -1
					return
				}
				eofAfter[k] = time.Since(t0)
			}()
		}
		close(start)
		wg.Wait()
		for k, d := range eofAfter {
			if d < 0 {
				bad++
				c := cs[k]
				t.Errorf("round %d conn %d: peer saw no EOF within 3s of Close; fd state %#x flags %#x out %d",
					i, k, c.fdst.v.Load(), c.flags.Load(), c.out.Len())
			}
		}
	}
}

// TestLingerSendsAllEveryTrigger: Close with more output queued than the
// socket takes; the peer starts reading only after the Close. The
// lingering close must send every byte, in every trigger mode. Under
// one-shot each EPOLLOUT disarms the registration, and the linger's
// event path did not record it: its mask update saw the mask unchanged
// and armed nothing, so the close stalled until its 5 s timer and the
// rest was dropped.
func TestLingerSendsAllEveryTrigger(t *testing.T) {
	skipStd(t, "no lingering close without a poller")
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig), WithMaxOutput(64<<20), WithPollers(1))
			pc := dialTCP(t, addr)
			c := recvConn(t, conns)
			// Several socket-buffers' worth, sent well within the
			// linger timer (5 s) even on a loaded machine: a stall
			// shows as bytes missing when the timer ends the close.
			const total = 8 << 20
			w := c.Writer()
			buf, err := w.Malloc(total)
			if err != nil {
				t.Fatal(err)
			}
			for i := range buf {
				buf[i] = byte(i / 7)
			}
			if err := w.Flush(); err != nil { // below MaxOutput: returns with the rest queued
				t.Fatal(err)
			}
			c.Close()
			start := time.Now()
			pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(pc)
			if err != nil || len(got) != total {
				t.Fatalf("peer got %d of %d bytes (%v) after %v", len(got), total, err, time.Since(start))
			}
			for i, b := range got {
				if b != byte(i/7) {
					t.Fatalf("byte %d is %d, want %d", i, b, byte(i/7))
				}
			}
		})
	}
}

// closeAfter closes c once start is closed and spin yields have passed,
// so that the close lands at a different point of the race each round.
func closeAfter(wg *sync.WaitGroup, c *Conn, start <-chan struct{}, spin int) {
	defer wg.Done()
	<-start
	for range spin {
		runtime.Gosched()
	}
	c.Close()
}
