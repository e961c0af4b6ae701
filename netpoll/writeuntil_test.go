package netpoll

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestWriteTimeoutRetrySendsOnce: a Write whose deadline passes leaves
// the rest of its chunk queued, and the poller sends it later. n must
// count those bytes, so that a caller that retries with p[n:] (the
// io.Writer contract) sends every byte exactly once. n used to count only
// what the kernel took: the peer got the queued bytes twice.
func TestWriteTimeoutRetrySendsOnce(t *testing.T) {
	c, cl := acceptPair(t, WithMaxOutput(64<<10))
	p := make([]byte, 8<<20)
	for i := range p {
		x := i / 4
		p[i] = byte(x ^ x>>8 ^ x>>16)
	}
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	n, err := c.Write(p) // the client does not read yet: the kernel fills
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write = %d, %v; want a timeout", n, err)
	}
	queued := c.out.Len()
	t.Logf("Write reported n=%d; %d bytes still queued in c.out", n, queued)

	// Read everything the client gets, concurrently.
	got := make(chan []byte, 1)
	go func() {
		cl.SetReadDeadline(time.Now().Add(20 * time.Second))
		b, _ := io.ReadAll(cl)
		got <- b
	}()
	// Retry the rest, as a net.Conn caller does after a timeout.
	c.SetWriteDeadline(time.Time{})
	if m, err := c.Write(p[n:]); err != nil || m != len(p)-n {
		t.Fatalf("retry Write = %d, %v", m, err)
	}
	c.Close()
	var b []byte
	select {
	case b = <-got:
	case <-time.After(25 * time.Second):
		t.Fatal("client read did not finish")
	}
	if !bytes.Equal(b, p) {
		i := 0
		for i < len(b) && i < len(p) && b[i] == p[i] {
			i++
		}
		t.Fatalf("peer got %d bytes, want %d (first difference at %d; Write reported %d)", len(b), len(p), i, n)
	}
}

// TestUntilBoundedByMaxInput: a peer that does not send the delimiter
// must not grow the buffer past the input bound. Until used to wait for
// one byte more than buffered each round, which raised the bound every
// time (up to 1 GiB). Now it returns ErrInputFull at the bound with the
// bytes still buffered; once they are taken, Until finds the delimiter
// that comes after them, and no byte is lost on the way.
func TestUntilBoundedByMaxInput(t *testing.T) {
	const maxIn = 64 << 10
	const long = 8 * maxIn // bytes before the delimiter
	c, cl := acceptPair(t, WithMaxInput(maxIn), WithBufferBudget(1<<20))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	go func() {
		cl.SetWriteDeadline(time.Now().Add(10 * time.Second))
		cl.Write(append(bytes.Repeat([]byte("a"), long), "\nrest"...))
	}()
	r := c.Reader()
	skipped := 0
	for round := 0; ; round++ {
		line, err := r.Until('\n')
		if err == nil {
			if len(line) > maxIn+minReadSize {
				t.Fatalf("Until returned a line of %d bytes: it buffered past the bound %d", len(line), maxIn)
			}
			if n := len(line) - 1; line[n] != '\n' || bytes.Count(line, []byte("a")) != n || skipped+n != long {
				t.Fatalf("line of %d bytes after skipping %d, want %d 'a' then a newline", len(line), skipped, long)
			}
			break
		}
		if !errors.Is(err, ErrInputFull) {
			t.Fatalf("Until after %d bytes: %v, want ErrInputFull until the delimiter", skipped, err)
		}
		held := r.Len()
		if held < maxIn || held > maxIn+minReadSize {
			t.Fatalf("buffered %d bytes at ErrInputFull, want the bound %d (plus less than one read)", held, maxIn)
		}
		if round > long/maxIn {
			t.Fatalf("ErrInputFull %d times for %d bytes before the delimiter", round+1, long)
		}
		got, err := r.Next(held)
		if err != nil || bytes.Count(got, []byte("a")) != held {
			t.Fatalf("Next(%d) after ErrInputFull: %v", held, err)
		}
		skipped += held
		r.Release()
	}
	rest, err := r.Next(4)
	if err != nil || string(rest) != "rest" {
		t.Fatalf("after the line: %q, %v", rest, err)
	}
}

// TestReadTooLarge: a Reader call for more than a connection can ever
// buffer fails at once with ErrReadTooLarge, consuming nothing; it used
// to wait for its deadline (the wait's bound is capped at 1 GiB).
func TestReadTooLarge(t *testing.T) {
	c, cl := acceptPair(t)
	if _, err := cl.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	r := c.Reader()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.Peek(3); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(int) ([]byte, error){"Next": r.Next, "Peek": r.Peek, "ReadBinary": r.ReadBinary}
	for name, call := range calls {
		start := time.Now()
		_, err := call(maxBound + 1)
		if !errors.Is(err, ErrReadTooLarge) {
			t.Errorf("%s(1 GiB + 1) = %v, want ErrReadTooLarge", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s(1 GiB + 1) took %v, want at once", name, d)
		}
	}
	if got, err := r.Next(3); err != nil || string(got) != "abc" {
		t.Fatalf("Next(3) after the refused reads = %q, %v", got, err)
	}
}

// TestWriteAfterWriterBatch: bytes written through the Writer and not yet
// flushed were written before a Conn.Write, and go out before its bytes.
// Write's fast path used to send p straight to the kernel whenever
// nothing was published, ahead of the open batch, while with output
// queued it went behind it: the order depended on timing.
func TestWriteAfterWriterBatch(t *testing.T) {
	c, cl := acceptPair(t)
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 20 {
		w := c.Writer()
		if _, err := w.WriteString("head-"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("body;")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 10)
		if _, err := io.ReadFull(cl, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != "head-body;" {
			t.Fatalf("round %d: peer got %q, want %q", i, got, "head-body;")
		}
	}
}
