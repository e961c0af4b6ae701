package netpoll

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestIdleClosesHandlerBlockedInWrite: a handler answers with c.Write (the
// net.Conn path) to a peer that never reads. The server has an idle
// timeout and no write timeout: once the kernel buffers are full no byte
// moves, and the connection must be closed within a few idle periods, as
// it is when the handler uses Writer().Flush (TestHostileIdleNeverReadingPeer).
func TestIdleClosesHandlerBlockedInWrite(t *testing.T) {
	// Inline, the Write returns ErrWouldBlock and the handler returns it,
	// which closes the connection: its queued output then lingers for
	// Close's 5 s, as documented, past this test's 4 s.
	skipInline(t)
	const idle = 200 * time.Millisecond
	for _, be := range []Backend{BackendEpoll, BackendStd} {
		t.Run(be.String(), func(t *testing.T) {
			var wrote atomic.Value
			s, addr := startServer(t, func(c *Conn) error {
				r := c.Reader()
				if _, err := r.Next(r.Len()); err != nil {
					return err
				}
				r.Release()
				_, err := c.Write(make([]byte, 32<<20))
				wrote.Store(errText(err))
				return err
			}, WithBackend(be), WithIdleTimeout(idle))
			peer := hostilePeer(t, addr)
			if _, err := peer.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if testutil.WaitFor(4*time.Second, func() bool { return s.Stats().LiveConns == 0 }) {
				t.Logf("closed by the idle timeout; Write returned %v", wrote.Load())
				return
			}
			st := s.Stats()
			t.Fatalf("no byte moved for ~4s (idle timeout %v), connection still open: live %d, out %d bytes", idle, st.LiveConns, st.BytesOut)
		})
	}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestIdleSparesSlowSteadyReader: accept mode, idle timeout 600ms; the server
// Writes 4 MiB in one call to a peer that reads steadily (32 KiB every
// 10 ms, about 1.3 s in all). Bytes move all the time, so the idle timeout
// must not close the connection in the middle of the Write. (With 300 ms
// it failed under heavy load: a process starved that long makes no
// progress, and its idle close is right.)
func TestIdleSparesSlowSteadyReader(t *testing.T) {
	const idle = 600 * time.Millisecond
	for _, be := range []Backend{BackendEpoll, BackendStd} {
		for _, op := range []string{"write", "flush"} {
			t.Run(be.String()+"/"+op, func(t *testing.T) {
				c, cl := acceptPair(t, WithBackend(be), WithIdleTimeout(idle))
				c.SetWriteBuffer(32 << 10)
				cl.SetReadBuffer(32 << 10)
				const total = 4 << 20
				done := make(chan int64, 1)
				go func() {
					var got int64
					buf := make([]byte, 32<<10)
					cl.SetReadDeadline(time.Now().Add(15 * time.Second))
					for got < total {
						n, err := cl.Read(buf)
						got += int64(n)
						if err != nil {
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
					done <- got
				}()
				start := time.Now()
				var n int
				var err error
				if op == "write" {
					n, err = c.Write(make([]byte, total))
				} else if n, err = c.Writer().WriteBinary(make([]byte, total)); err == nil {
					err = c.Writer().Flush()
				}
				el := time.Since(start)
				got := <-done
				if err != nil {
					t.Fatalf("%s = %d, %v after %v (peer read %d bytes steadily); the idle timeout closed a busy connection", op, n, err, el, got)
				}
				t.Logf("%s of %d bytes took %v", op, n, el)
			})
		}
	}
}

// TestResetErrorShape: after the peer's reset, Read and Write fail as
// Go's *net.TCPConn's do (README: "Errors are *net.OpErrors shaped as
// Go's"): a *net.OpError whose Err is the *os.SyscallError itself, not
// another *net.OpError.
func TestResetErrorShape(t *testing.T) {
	for _, be := range []Backend{BackendEpoll, BackendStd} {
		for _, op := range []string{"read", "write"} {
			t.Run(be.String()+"/"+op, func(t *testing.T) {
				c, cl := acceptPair(t, WithBackend(be))
				cl.SetLinger(0)
				cl.Close() // RST
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var err error
				for i := 0; i < 1000 && err == nil; i++ {
					if op == "read" {
						_, err = c.Read(make([]byte, 16))
					} else {
						_, err = c.Write(make([]byte, 1024))
						time.Sleep(time.Millisecond)
					}
				}
				var oe *net.OpError
				if !errors.As(err, &oe) {
					t.Fatalf("%s = %v, want a *net.OpError", op, err)
				}
				if inner, ok := oe.Err.(*net.OpError); ok {
					t.Fatalf("%s = %q\n\tis a *net.OpError wrapping another *net.OpError (%q)", op, err, inner)
				}
				t.Logf("%s = %v", op, err)
			})
		}
	}
}

// TestCloseSendsWhatTimedOutFlushLeft: Flush's doc: "When the deadline passes,
// what was flushed stays queued and is sent later"; Close's doc: "Output
// still queued ... is sent ... for up to 5 s before the socket closes".
// A Flush of 1 MiB times out against a peer that is not reading yet,
// then the connection is closed; the peer then reads to EOF and must get
// the whole MiB.
func TestCloseSendsWhatTimedOutFlushLeft(t *testing.T) {
	for _, be := range []Backend{BackendEpoll, BackendStd} {
		t.Run(be.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithBackend(be))
			cl.SetReadBuffer(16 << 10)
			c.SetWriteBuffer(16 << 10)
			const total = 1 << 20
			w := c.Writer()
			if _, err := w.WriteBinary(make([]byte, total)); err != nil {
				t.Fatal(err)
			}
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			err := w.Flush()
			if !errors.Is(err, errTimeout) {
				t.Fatalf("Flush = %v, want a timeout", err)
			}
			c.Close()
			cl.SetReadDeadline(time.Now().Add(8 * time.Second))
			got, err := io.Copy(io.Discard, cl)
			if got != total {
				t.Fatalf("peer got %d of the %d bytes a timed-out Flush left queued before Close (err %v)", got, total, err)
			}
		})
	}
}

// TestReadFromUpollConnKeepsBuffered: dst.ReadFrom(src) where src is an
// upoll Conn that already buffered input (a Peek): the buffered bytes
// come first, then the rest, in order (ReadFrom's doc: "Other readers
// with a SyscallConn (an upoll Conn ...) may hold bytes their socket no
// longer has: they are read, not spliced").
func TestReadFromUpollConnKeepsBuffered(t *testing.T) {
	for _, be := range []Backend{BackendEpoll, BackendStd} {
		t.Run(be.String(), func(t *testing.T) {
			src, srcPeer := acceptPair(t, WithBackend(be))
			dst, dstPeer := acceptPair(t, WithBackend(be))
			if _, err := srcPeer.Write([]byte("AAAA")); err != nil {
				t.Fatal(err)
			}
			src.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := src.Reader().Peek(4); err != nil {
				t.Fatal(err)
			}
			src.SetReadDeadline(time.Time{})
			srcPeer.Write([]byte("BBBB"))
			srcPeer.CloseWrite()
			done := make(chan error, 1)
			go func() {
				_, err := dst.ReadFrom(src)
				dst.CloseWrite()
				done <- err
			}()
			dstPeer.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(dstPeer)
			if err != nil {
				t.Fatal(err)
			}
			if e := <-done; e != nil {
				t.Logf("ReadFrom: %v", e)
			}
			if string(got) != "AAAABBBB" {
				t.Fatalf("peer got %q, want %q", got, "AAAABBBB")
			}
		})
	}
}

// TestStdBufferedInAfterCloseRace: a handler that leaves its input
// buffered (a partial message) while another goroutine closes the
// connection. Once every connection is gone, Stats.BufferedIn (what the
// buffer budget sums) must be back to 0.
func TestStdBufferedInAfterCloseRace(t *testing.T) {
	s, addr := startServer(t, func(c *Conn) error {
		go c.Close()
		return nil // input left buffered, as a handler waiting for the rest does
	}, WithBackend(BackendStd))
	const rounds, par = 500, 20
	msg := make([]byte, 1000)
	for r := 0; r < rounds; r++ {
		var conns []net.Conn
		for i := 0; i < par; i++ {
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			nc.Write(msg)
			conns = append(conns, nc)
		}
		for _, nc := range conns {
			nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, nc) // until the server closed it
			nc.Close()
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().LiveConns != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := s.Stats()
	if st.LiveConns != 0 || st.BufferedIn != 0 {
		t.Fatalf("after %d connections all closed: LiveConns %d, BufferedIn %d (want 0, 0)", rounds*par, st.LiveConns, st.BufferedIn)
	}
}

// TestStdPastDeadlineWakesRead: a Read blocked (or about to block) is
// woken by SetReadDeadline(past) set from another goroutine, every time,
// also while an input notification's goroutine is reading the socket.
func TestStdPastDeadlineWakesRead(t *testing.T) {
	c, _ := acceptPair(t, WithBackend(BackendStd))
	buf := make([]byte, 16)
	for i := 0; i < 2000; i++ {
		if i%2 == 0 {
			c.NotifyInput(func(*Conn) {})
		}
		c.SetReadDeadline(time.Time{})
		done := make(chan error, 1)
		go func() {
			_, err := c.Read(buf)
			done <- err
		}()
		if i%3 == 0 {
			time.Sleep(time.Duration(i%50) * time.Microsecond)
		}
		c.SetReadDeadline(time.Now().Add(-time.Second))
		select {
		case err := <-done:
			if !errors.Is(err, errTimeout) {
				t.Fatalf("round %d: Read = %v, want a timeout", i, err)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("round %d: Read still blocked 3s after SetReadDeadline(past)", i)
		}
	}
}

// TestStdNotifyInputOneWatcher: NotifyInput's doc: "A later call replaces
// a registration that has not run yet", and f == nil cancels it. An
// owner that re-registers (or cancels and registers again) 1000 times on
// an idle connection must not pile up 1000 goroutines on it.
func TestStdNotifyInputOneWatcher(t *testing.T) {
	c, cl := acceptPair(t, WithBackend(BackendStd))
	before := connGoroutines()
	for i := 0; i < 1000; i++ {
		c.NotifyInput(func(*Conn) {})
		c.NotifyInput(nil)
	}
	fired := make(chan struct{})
	c.NotifyInput(func(*Conn) { close(fired) })
	if after := connGoroutines(); after-before > 1 {
		t.Fatalf("1001 registrations on one idle connection left %d more goroutines (%d -> %d), want one watcher", after-before, before, after)
	}
	// The one watcher serves the last registration.
	if _, err := cl.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("the last registration did not fire when input came")
	}
	if n, err := c.Read(make([]byte, 4)); n != 1 || err != nil {
		t.Fatalf("Read after the notification = %d, %v; want the 1 byte", n, err)
	}
}

// TestStdNoGoroutinesAfterClose: after Server.Close, the goroutines of a
// BackendStd server's connections (idle, paused at the input bound,
// blocked in Flush towards a peer that does not read) are all gone.
func TestStdNoGoroutinesAfterClose(t *testing.T) {
	before := connGoroutines()
	s, addr := startServer(t, func(c *Conn) error {
		r := c.Reader()
		b, err := r.Peek(1)
		if err != nil {
			return err
		}
		switch b[0] {
		case 'w': // answer a lot, to a peer that does not read
			r.Skip(r.Len())
			r.Release()
			c.Writer().WriteBinary(make([]byte, 8<<20))
			return c.Writer().Flush()
		case 'p': // leave the input: the loop pauses at the bound
			return nil
		}
		r.Skip(r.Len())
		return r.Release()
	}, WithBackend(BackendStd), WithMaxInput(8<<10), WithIdleTimeout(time.Hour))
	var peers []net.Conn
	for i := 0; i < 30; i++ {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, nc)
		switch i % 3 {
		case 0:
			nc.Write([]byte("w"))
		case 1:
			nc.Write(append([]byte("p"), make([]byte, 64<<10)...))
		default:
			nc.Write([]byte("i"))
		}
	}
	time.Sleep(300 * time.Millisecond)
	s.Close()
	for _, nc := range peers {
		nc.Close()
	}
	testutil.WaitFor(3*time.Second, func() bool { return connGoroutines() == 0 })
	if n := connGoroutines(); n > 0 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines of netpoll connections 3s after Close (%d before):\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// connGoroutines counts the goroutines that BackendStd runs for its
// connections (handler loops, input watchers, lingering closes).
func connGoroutines() int {
	n := 0
	for _, g := range testutil.LiveGoroutines() {
		if strings.Contains(g, "netpoll.(*Conn).std") {
			n++
		}
	}
	return n
}
