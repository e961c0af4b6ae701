package netpoll

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"
)

// A Close from another goroutine between a writer's Malloc and its
// Flush must not give the batch's memory to another connection: the
// stale writer would fill it while that connection sends it. Before the
// fix, the last reference's destroy freed the open batch to the node
// pool, and connection 2 sent connection 1's bytes within a few rounds.
func TestMallocSurvivesConcurrentClose(t *testing.T) {
	for i := range 20 {
		c1, _ := acceptPair(t)
		c2, cl2 := acceptPair(t)
		p, err := c1.Writer().Malloc(4096)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { c1.Close(); close(done) }()
		<-done
		q, err := c2.Writer().Malloc(4096)
		if err != nil {
			t.Fatal(err)
		}
		for k := range q {
			q[k] = 'B'
		}
		for k := range p { // the first writer fills its slice late
			p[k] = 'A'
		}
		if err := c2.Writer().Flush(); err != nil {
			t.Fatal(err)
		}
		// The late writer's Flush fails and frees its batch.
		if err := c1.Writer().Flush(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("round %d: Flush after Close = %v, want net.ErrClosed", i, err)
		}
		cl2.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, 4096)
		if _, err := io.ReadFull(cl2, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.Repeat([]byte("B"), 4096)) {
			t.Fatalf("round %d: connection 2 sent %q...: another connection's writer wrote into its buffer", i, got[:16])
		}
	}
}

// CloseRead returns what the socket had received, then io.EOF, as Go's
// *net.TCPConn does: 100 KiB sent before CloseRead, against the 8 KiB
// read-ahead an accept-mode connection buffers, all come back. Before,
// CloseRead ended the input at what was buffered (8 KiB).
func TestCloseReadKeepsReceivedBytes(t *testing.T) {
	const total = 100 << 10
	data := bytes.Repeat([]byte("x"), total)
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			sc, cl := acceptPair(t, WithTrigger(trig))
			if _, err := cl.Write(data); err != nil {
				t.Fatal(err)
			}
			// Until the kernel holds all of it: the client's writes
			// are done, and the server buffered its read-ahead.
			time.Sleep(200 * time.Millisecond)
			if err := sc.CloseRead(); err != nil {
				t.Fatal(err)
			}
			sc.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(sc)
			if err != nil || len(got) != total {
				t.Fatalf("after CloseRead: read %d bytes, %v; want %d and io.EOF (Go's TCPConn)", len(got), err, total)
			}
		})
	}
}

// A Read blocked with nothing buffered nor received returns io.EOF when
// another goroutine calls CloseRead: the shutdown wakes the poller.
func TestCloseReadWakesBlockedReader(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			sc, _ := acceptPair(t, WithTrigger(trig))
			sc.SetReadDeadline(time.Now().Add(5 * time.Second))
			done := make(chan error, 1)
			go func() {
				_, err := sc.Read(make([]byte, 16))
				done <- err
			}()
			time.Sleep(50 * time.Millisecond) // the Read blocks
			if err := sc.CloseRead(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != io.EOF {
					t.Fatalf("blocked Read after CloseRead = %v, want io.EOF", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("a blocked Read did not return 3 s after CloseRead")
			}
		})
	}
}

// Calls of the Reader and the Writer with negative or huge counts fail
// with an error, never a panic, and leave the buffered input intact.
func TestReaderWriterBadCounts(t *testing.T) {
	sc, cl := acceptPair(t)
	if _, err := cl.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, w := sc.Reader(), sc.Writer()
	if _, err := r.Peek(5); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"Next(-1)":       func() error { _, err := r.Next(-1); return err },
		"Peek(-1)":       func() error { _, err := r.Peek(-1); return err },
		"Skip(-1)":       func() error { return r.Skip(-1) },
		"ReadBinary(-1)": func() error { _, err := r.ReadBinary(-1); return err },
		"ReadString(-1)": func() error { _, err := r.ReadString(-1); return err },
		"Slice(-1)":      func() error { _, err := r.Slice(-1); return err },
		"Next(1<<40)":    func() error { _, err := r.Next(min(1<<40, math.MaxInt)); return err },
		"Skip(1<<31+5)":  func() error { return r.Skip(min(1<<31+5, math.MaxInt)) },
		"Malloc(-1)":     func() error { _, err := w.Malloc(-1); return err },
		"Malloc(1<<40)":  func() error { _, err := w.Malloc(min(1<<40, math.MaxInt)); return err },
		"MallocAck(-1)":  func() error { return w.MallocAck(-1) },
		"MallocAck(9)":   func() error { return w.MallocAck(9) },
	} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s panicked: %v", name, p)
				}
			}()
			if err := f(); err == nil {
				t.Errorf("%s: no error", name)
			}
		}()
	}
	b, err := r.Next(5)
	if string(b) != "hello" || err != nil {
		t.Fatalf("after the bad calls: Next(5) = %q, %v; want \"hello\"", b, err)
	}
}

// Close from another goroutine ends every call in flight on the
// connection (Next, Flush, ReadFrom of a file, WriteTo, CloseWrite),
// with no race and no hang.
func TestCloseEndsEveryCall(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "src")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(bytes.Repeat([]byte("f"), 16<<20)); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		sc, cl := acceptPair(t)
		go cl.Write(bytes.Repeat([]byte("i"), 100000))
		errs := make(chan error, 5)
		go func() { _, err := sc.Reader().Next(1 << 20); errs <- err }()
		go func() {
			w := sc.Writer()
			var err error
			for err == nil {
				w.WriteBinary(make([]byte, 70000))
				err = w.Flush()
			}
			errs <- err
		}()
		go func() {
			src, err := os.Open(f.Name())
			if err != nil {
				errs <- err
				return
			}
			defer src.Close()
			_, err = sc.ReadFrom(src)
			errs <- err
		}()
		go func() { _, err := sc.WriteTo(io.Discard); errs <- err }()
		go func() { errs <- sc.CloseWrite() }()
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		sc.Close()
		for range 5 {
			select {
			case <-errs:
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: a call did not return 5 s after Close", i)
			}
		}
		cl.Close()
	}
}

// Writes after the peer's reset fail as Go's do: the first with the
// reset (the socket's pending error, which upoll's poller took from the
// kernel before any write asked), later ones with EPIPE; an empty write
// too, as Go's makes the system call. Before, an empty write returned
// nil and the first write EPIPE.
func TestWriteAfterPeerResetAsGo(t *testing.T) {
	errnos := func(c net.Conn, peer *net.TCPConn) []string {
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(100 * time.Millisecond) // the reset arrives (and upoll's poller reads it)
		var got []string
		for _, p := range [][]byte{nil, {}, []byte("hello")} {
			_, err := c.Write(p)
			switch {
			case err == nil:
				got = append(got, "nil")
			case errors.Is(err, syscall.ECONNRESET):
				got = append(got, "ECONNRESET")
			case errors.Is(err, syscall.EPIPE):
				got = append(got, "EPIPE")
			default:
				got = append(got, err.Error())
			}
		}
		return got
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	gpeer := dialTCP(t, l.Addr().String())
	gc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	want := errnos(gc, gpeer)
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			c, peer := acceptPair(t, WithTrigger(trig))
			if got := errnos(c, peer); !slices.Equal(got, want) {
				t.Fatalf("writes after the peer's reset: %v, Go's %v", got, want)
			}
		})
	}
}

// A Close from another goroutine must not give the memory behind a
// reader's Next slice to another connection: the slice is the reader's
// until its Release, and the pool would hand the node to the next
// connection's read. Connection 1's reader holds 4 KiB from Next while
// another goroutine closes it; connection 2 then receives 4 KiB, and the
// slice must still hold connection 1's bytes, and what the stale reader
// writes into it (allowed until Release) must not reach connection 2.
func TestNextSurvivesConcurrentClose(t *testing.T) {
	const size = 4096
	for i := range 20 {
		c1, cl1 := acceptPair(t)
		c2, cl2 := acceptPair(t)
		if _, err := cl1.Write(bytes.Repeat([]byte("A"), size)); err != nil {
			t.Fatal(err)
		}
		c1.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := c1.Reader().Next(size)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { c1.Close(); close(done) }()
		<-done
		if _, err := cl2.Write(bytes.Repeat([]byte("B"), size)); err != nil {
			t.Fatal(err)
		}
		c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		q, err := c2.Reader().Next(size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p, bytes.Repeat([]byte("A"), size)) {
			t.Fatalf("round %d: connection 1's Next slice holds %q... after its Close: its memory went to another connection", i, p[:16])
		}
		for k := range p { // the stale reader writes into its slice
			p[k] = 'Z'
		}
		if !bytes.Equal(q, bytes.Repeat([]byte("B"), size)) {
			t.Fatalf("round %d: connection 2 read %q...: another connection's reader wrote into its buffer", i, q[:16])
		}
		c2.Reader().Release()
	}
}
