package nethttp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"golang.org/x/net/nettest"
)

// TestNettestConn runs x/net's net.Conn conformance suite with every
// combination of listening and dialing stack, so upoll is checked both
// against itself and against a standard net.Conn on the other end.
func TestNettestConn(t *testing.T) {
	for _, ls := range stacks() {
		for _, ds := range stacks() {
			t.Run(ls.name+"-"+ds.name, func(t *testing.T) {
				t.Parallel()
				ln := ls.listenTB(t)
				nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
					accepted := make(chan net.Conn, 1)
					go func() {
						c, err := ln.Accept()
						if err != nil {
							t.Errorf("accept: %v", err)
						}
						accepted <- c
					}()
					c1 = ds.dialTB(t, ln.Addr().String())
					c1.SetDeadline(time.Time{})
					select {
					case c2 = <-accepted:
					case <-time.After(10 * time.Second):
						return nil, nil, nil, errors.New("accept timed out")
					}
					if c2 == nil {
						return nil, nil, nil, errors.New("accept failed")
					}
					return c1, c2, func() { c1.Close(); c2.Close() }, nil
				})
			})
		}
	}
}

// TestPastDeadlineWakesBlockedRead is what net/http's abortPendingRead
// relies on after every request, on Hijack and on Shutdown: moving the
// deadline into the past wakes a Read that is already blocked, at once, with
// a top-level *net.OpError; after the deadline is reset the conn still works.
func TestPastDeadlineWakesBlockedRead(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		srv, cli := connPair(t, st.listenTB(t), st)
		for _, c := range []net.Conn{srv, cli} {
			c.SetReadDeadline(time.Time{})
			errc := make(chan error, 1)
			go func() {
				var b [1]byte
				_, err := c.Read(b[:])
				errc <- err
			}()
			time.Sleep(50 * time.Millisecond)
			woke := time.Now()
			c.SetReadDeadline(time.Unix(1, 0))
			select {
			case err := <-errc:
				if d := time.Since(woke); d > time.Second {
					t.Errorf("blocked Read woke %v after the deadline moved into the past", d)
				}
				if _, ok := err.(*net.OpError); !ok || !testutil.IsTimeout(err) {
					t.Fatalf("Read error = %#v, want *net.OpError wrapping os.ErrDeadlineExceeded", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("blocked Read not woken by a past deadline")
			}
		}
		// Reset, then the conn carries data both ways again.
		srv.SetReadDeadline(time.Now().Add(testDeadline))
		cli.SetReadDeadline(time.Now().Add(testDeadline))
		pingPong(t, srv, cli)
		pingPong(t, cli, srv)
	})
}

func pingPong(t *testing.T, a, b net.Conn) {
	t.Helper()
	if _, err := a.Write([]byte("ping")); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read = %q, %v; want ping", buf, err)
	}
}

// TestDeadlineExtendedWhileBlocked checks that a deadline moved later while
// a Read is blocked is honoured (the Read does not fire at the old time).
func TestDeadlineExtendedWhileBlocked(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		srv, cli := connPair(t, st.listenTB(t), st)
		const old = 500 * time.Millisecond
		set := time.Now()
		srv.SetReadDeadline(set.Add(old))
		reading := make(chan struct{})
		errc := make(chan error, 1)
		go func() {
			close(reading)
			b := make([]byte, 4)
			_, err := io.ReadFull(srv, b)
			errc <- err
		}()
		// Let the Read block before moving its deadline: a deadline moved
		// before the Read starts tests nothing about a blocked one.
		testutil.Receive(t, reading, 10*time.Second, "reader start")
		time.Sleep(150 * time.Millisecond)
		if d := time.Since(set); d > old-100*time.Millisecond {
			t.Skipf("the machine took %v to get here: the old deadline is too close to test", d)
		}
		select {
		case err := <-errc:
			t.Fatalf("Read returned %v before any data or deadline", err)
		default:
		}
		srv.SetReadDeadline(time.Now().Add(testDeadline))
		// Past the old deadline: the Read must still be blocked.
		time.Sleep(time.Until(set.Add(old + 300*time.Millisecond)))
		select {
		case err := <-errc:
			t.Fatalf("Read returned %v at the old deadline, after it was extended", err)
		default:
		}
		cli.Write([]byte("late"))
		select {
		case err := <-errc:
			if err != nil {
				t.Fatalf("Read after extending the deadline: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Read did not return")
		}
	})
}

// TestEOFAndClosed checks exact io.EOF after all buffered bytes, and
// net.ErrClosed for use after Close.
func TestEOFAndClosed(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		srv, cli := connPair(t, st.listenTB(t), st)
		want := bytes.Repeat([]byte("0123456789"), 10000)
		if _, err := cli.Write(want); err != nil {
			t.Fatal(err)
		}
		cli.Close()
		got, err := io.ReadAll(srv)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("ReadAll = %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
		var b [1]byte
		if n, err := srv.Read(b[:]); n != 0 || err != io.EOF {
			t.Fatalf("Read after EOF = %d, %#v; want exactly io.EOF", n, err)
		}
		srv.Close()
		if _, err := srv.Read(b[:]); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after Close = %v; want net.ErrClosed", err)
		}
		if _, err := srv.Write(b[:]); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close = %v; want net.ErrClosed", err)
		}
		if err := srv.SetReadDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
			t.Errorf("SetReadDeadline after Close = %v; want net.ErrClosed", err)
		}
		if err := srv.Close(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close = %v; want net.ErrClosed", err)
		}
	})
}

// TestCloseUnblocks checks that Close from another goroutine wakes a Read
// blocked for input and a Write blocked because the peer does not read.
func TestCloseUnblocks(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		srv, _ := connPair(t, st.listenTB(t), st)
		readErr, writeErr := make(chan error, 1), make(chan error, 1)
		go func() {
			var b [1]byte
			_, err := srv.Read(b[:])
			readErr <- err
		}()
		go func() {
			chunk := make([]byte, 1<<20)
			for range 256 { // 256 MiB: far more than any socket and output buffer hold
				if _, err := srv.Write(chunk); err != nil {
					writeErr <- err
					return
				}
			}
			writeErr <- nil
		}()
		time.Sleep(200 * time.Millisecond)
		srv.Close()
		for _, ch := range []chan error{readErr, writeErr} {
			select {
			case err := <-ch:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("blocked call returned %v after Close; want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not wake a blocked call")
			}
		}
	})
}

// TestConcurrentWritesSerialized checks that Writes from many goroutines are
// each delivered whole, never interleaved.
func TestConcurrentWritesSerialized(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		srv, cli := connPair(t, st.listenTB(t), st)
		const writers, records, size = 8, 8, 64 << 10
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := bytes.Repeat([]byte{byte('a' + w)}, size)
				for range records {
					if _, err := cli.Write(rec); err != nil {
						t.Errorf("write: %v", err)
						return
					}
				}
			}()
		}
		go func() { wg.Wait(); cli.Close() }()
		got, err := io.ReadAll(srv)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != writers*records*size {
			t.Fatalf("read %d bytes, want %d", len(got), writers*records*size)
		}
		for off := 0; off < len(got); off += size {
			rec := got[off : off+size]
			if bytes.Count(rec, rec[:1]) != size {
				t.Fatalf("record at %d is interleaved with another Write", off)
			}
		}
	})
}

// TestConcurrentReads checks that Reads from many goroutines share the
// stream: each Read returns a contiguous run of it, and the runs together
// are the stream, every byte once (net.Conn's contract: concurrent Reads
// are serialized).
func TestConcurrentReads(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		srv, cli := connPair(t, st.listenTB(t), st)
		stream := testutil.RandomBytes(2, 1<<20)
		go func() {
			cli.Write(stream)
			cli.Close()
		}()
		var mu sync.Mutex
		var pieces [][]byte
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < len(stream); i++ { // at least a byte per Read
					buf := make([]byte, 1000+(g*7+i)%2000)
					n, err := srv.Read(buf)
					mu.Lock()
					pieces = append(pieces, buf[:n])
					mu.Unlock()
					if err != nil {
						if err != io.EOF {
							t.Errorf("read: %v", err)
						}
						return
					}
				}
			}()
		}
		testutil.WaitGroup(t, &wg, 2*testDeadline, "the readers")
		if err := testutil.Tile(stream, pieces); err != nil {
			t.Fatalf("%d reads: %v", len(pieces), err)
		}
	})
}

// TestCloseWrite checks the half-close net/http uses for some error
// responses: the peer sees EOF, and can still answer.
func TestCloseWrite(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		srv, cli := connPair(t, st.listenTB(t), st)
		cw, ok := cli.(interface{ CloseWrite() error })
		if !ok {
			t.Fatalf("%T has no CloseWrite", cli)
		}
		cli.Write([]byte("request"))
		if err := cw.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(srv)
		if err != nil || string(got) != "request" {
			t.Fatalf("server read %q, %v", got, err)
		}
		if _, err := srv.Write([]byte("answer")); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		got, err = io.ReadAll(cli)
		if err != nil || string(got) != "answer" {
			t.Fatalf("client read %q, %v after its CloseWrite", got, err)
		}
	})
}

// TestReadFrom checks the conn's io.ReaderFrom (net/http uses it for bodies
// with a Content-Length): every byte arrives, and it does not recurse
// through io.Copy into itself.
func TestReadFrom(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		srv, cli := connPair(t, st.listenTB(t), st)
		rf, ok := srv.(io.ReaderFrom)
		if !ok {
			t.Fatalf("%T is not an io.ReaderFrom", srv)
		}
		const total = 8<<20 + 13
		done := make(chan error, 1)
		go func() {
			chk := &patternChecker{}
			n, err := io.Copy(chk, cli)
			if err == nil && n != total {
				err = io.ErrUnexpectedEOF
			}
			done <- err
		}()
		// onlyReader hides everything but Read, as a plain io.Reader would.
		n, err := rf.ReadFrom(struct{ io.Reader }{&patternReader{n: total}})
		if err != nil || n != total {
			t.Fatalf("ReadFrom = %d, %v; want %d", n, err, total)
		}
		srv.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("reader did not finish")
		}
	})
}

// TestSetDeadlineAllocs checks that the deadline calls net/http makes about
// seven times per request do not allocate.
func TestSetDeadlineAllocs(t *testing.T) {
	for _, st := range stacks() {
		t.Run(st.name, func(t *testing.T) {
			srv, _ := connPair(t, st.listenTB(t), st)
			future := time.Now().Add(time.Hour)
			allocs := testing.AllocsPerRun(200, func() {
				srv.SetReadDeadline(future)
				srv.SetReadDeadline(time.Time{})
				srv.SetWriteDeadline(future)
				srv.SetDeadline(time.Time{})
			})
			if allocs != 0 {
				t.Errorf("deadline calls allocate %v times per run, want 0", allocs)
			}
		})
	}
}
