package netpoll

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/internal/testutil"
)

// The review's misuse tests run on the default backend; UPOLL switches
// them to BackendStd or BackendUring (UPOLL=backend=std, backend=uring).

// misuseNodes turns node accounting on for t and checks, when t ends,
// that goroutines, descriptors and buffer nodes are back where they
// were.
func misuseNodes(t *testing.T) {
	t.Helper()
	prev := buffer.SetNodeAccounting(true)
	t.Cleanup(func() { buffer.SetNodeAccounting(prev) })
	testutil.CheckLeaks(t, testutil.Probe{Name: "buffer nodes", Value: buffer.LiveNodes})
}

// misuseNoPanic runs f and fails t with name if it panics.
func misuseNoPanic(t *testing.T, name string, f func()) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", name, p)
		}
	}()
	f()
}

// misuseEcho writes msg on cl and reads it back within 5 s.
func misuseEcho(t *testing.T, cl net.Conn, msg []byte) {
	t.Helper()
	cl.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := cl.Write(msg); err != nil {
		t.Fatalf("echo write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(cl, got); err != nil {
		t.Fatalf("echo read: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo: got %q, want %q", got, msg)
	}
}

// misuseReadN reads n bytes from cl within 5 s.
func misuseReadN(t *testing.T, cl net.Conn, n int) []byte {
	t.Helper()
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, n)
	if _, err := io.ReadFull(cl, got); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return got
}

// Counts of zero are no-ops that return at once on an empty connection:
// they need no byte, so they must not wait for one.
func TestReview12MisuseZeroCounts(t *testing.T) {
	misuseNodes(t)
	sc, cl := acceptPair(t)
	r, w := sc.Reader(), sc.Writer()
	start := time.Now()
	for name, f := range map[string]func() error{
		"Next(0)": func() error {
			p, err := r.Next(0)
			if err == nil && len(p) != 0 {
				return fmt.Errorf("%d bytes", len(p))
			}
			return err
		},
		"Peek(0)": func() error { _, err := r.Peek(0); return err },
		"Skip(0)": func() error { return r.Skip(0) },
		"ReadBinary(0)": func() error {
			p, err := r.ReadBinary(0)
			if err == nil && len(p) != 0 {
				return fmt.Errorf("%d bytes", len(p))
			}
			return err
		},
		"ReadString(0)": func() error { s, err := r.ReadString(0); _ = s; return err },
		"Slice(0)": func() error {
			s, err := r.Slice(0)
			if err == nil {
				if s.Len() != 0 {
					return fmt.Errorf("Slice(0).Len() = %d", s.Len())
				}
				return s.Close()
			}
			return err
		},
		"Release":       func() error { return r.Release() },
		"Release again": func() error { return r.Release() },
		"Malloc(0)":     func() error { _, err := w.Malloc(0); return err },
		"MallocAck(0)":  func() error { return w.MallocAck(0) },
		"WriteBinary(nil)": func() error {
			n, err := w.WriteBinary(nil)
			if err == nil && n != 0 {
				return fmt.Errorf("n = %d", n)
			}
			return err
		},
		"WriteString(\"\")": func() error { _, err := w.WriteString(""); return err },
		"Append(empty)":     func() error { return w.Append(buffer.New()) },
		"Flush":             func() error { return w.Flush() },
		"FlushAsync":        func() error { return w.FlushAsync() },
	} {
		misuseNoPanic(t, name, func() {
			if err := f(); err != nil {
				t.Errorf("%s = %v, want nil", name, err)
			}
		})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the zero-count calls took %v: one of them waited", d)
	}
	if n := w.MallocLen(); n != 0 {
		t.Errorf("MallocLen after the zero writes = %d", n)
	}
	// Nothing was sent, and the connection works on.
	cl.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := cl.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("the peer read %d bytes, %v after zero-count writes", n, err)
	}
	if _, err := cl.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if p, err := r.Next(4); err != nil || string(p) != "ping" {
		t.Fatalf("Next(4) = %q, %v", p, err)
	}
	r.Release()
	w.WriteString("pong")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := misuseReadN(t, cl, 4); string(got) != "pong" {
		t.Fatalf("peer got %q", got)
	}
}

// Bad Writer arguments: Append(nil), Append of a closed buffer and
// MallocAck past what was Malloc'ed fail with the buffer's errors and
// change nothing: the batch built before goes out whole at Flush. A
// Malloc flushed without MallocAck sends all it returned.
func TestReview12MisuseWriterArgs(t *testing.T) {
	misuseNodes(t)
	sc, cl := acceptPair(t)
	w := sc.Writer()
	p, err := w.Malloc(8)
	if err != nil {
		t.Fatal(err)
	}
	copy(p, "abcdefgh")
	closed := buffer.New()
	closed.WriteString("zz")
	closed.Flush()
	closed.Close()
	for name, c := range map[string]struct {
		f    func() error
		want error
	}{
		"Append(nil)":    {func() error { return w.Append(nil) }, buffer.ErrSelfAppend},
		"Append(closed)": {func() error { return w.Append(closed) }, buffer.ErrClosed},
		"MallocAck(9)":   {func() error { return w.MallocAck(9) }, buffer.ErrNotEnough},
	} {
		misuseNoPanic(t, name, func() {
			if err := c.f(); !errors.Is(err, c.want) {
				t.Errorf("%s = %v, want %v", name, err, c.want)
			}
		})
	}
	if n := w.MallocLen(); n != 8 {
		t.Fatalf("MallocLen after the refused calls = %d, want 8", n)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := misuseReadN(t, cl, 8); string(got) != "abcdefgh" {
		t.Fatalf("peer got %q, want the Malloc'ed bytes", got)
	}
	// Malloc, part filled, Flush without MallocAck: all n bytes go.
	p, err = w.Malloc(6)
	if err != nil {
		t.Fatal(err)
	}
	copy(p, "xy")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := misuseReadN(t, cl, 6); !bytes.HasPrefix(got, []byte("xy")) {
		t.Fatalf("peer got %q, want xy and 4 more bytes", got)
	}
	// MallocAck keeps only the first n of two Mallocs.
	p1, _ := w.Malloc(3)
	copy(p1, "123")
	p2, _ := w.Malloc(3)
	copy(p2, "456")
	if err := w.MallocAck(4); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := misuseReadN(t, cl, 4); string(got) != "1234" {
		t.Fatalf("peer got %q, want 1234", got)
	}
	cl.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := cl.Read(make([]byte, 8)); n != 0 {
		t.Fatalf("the peer got %d bytes MallocAck dropped", n)
	}
}

// A Next that asks for more than MaxInput waits for the bytes (the
// poller reads that far for it) and ends as the Reader's doc says: with
// the bytes, with a timeout at the read deadline, or with
// io.ErrUnexpectedEOF when the peer shuts down first. It never hangs
// once a deadline is set or the peer has gone.
func TestReview12MisuseNextAboveMaxInput(t *testing.T) {
	misuseNodes(t)
	const maxIn = 64 << 10
	want := bytes.Repeat([]byte("0123456789abcdef"), (3*maxIn)/16)
	sc, cl := acceptPair(t, WithMaxInput(maxIn))
	go cl.Write(want)
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := sc.Reader().Next(len(want))
	if err != nil || !bytes.Equal(p, want) {
		t.Fatalf("Next(3*MaxInput) = %d bytes, %v", len(p), err)
	}
	sc.Reader().Release()

	// Too few bytes, a deadline: a timeout, the bytes kept.
	if _, err := cl.Write(want[:maxIn]); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	start := time.Now()
	_, err = sc.Reader().Next(2 * maxIn)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Next(2*MaxInput) with MaxInput sent = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the timeout came after %v", d)
	}
	if !testutil.WaitFor(2*time.Second, func() bool { return sc.Reader().Len() == maxIn }) {
		t.Fatalf("Len after the timeout = %d, want %d", sc.Reader().Len(), maxIn)
	}

	// No deadline, the peer shuts down: io.ErrUnexpectedEOF.
	sc.SetReadDeadline(time.Time{})
	cl.CloseWrite()
	errc := make(chan error, 1)
	go func() { _, err := sc.Reader().Next(2 * maxIn); errc <- err }()
	select {
	case err := <-errc:
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Next(2*MaxInput) after the peer's shutdown = %v, want io.ErrUnexpectedEOF", err)
		}
	case <-time.After(5 * time.Second):
		sc.Close()
		<-errc
		t.Fatal("Next(2*MaxInput) still waits 5 s after the peer shut down")
	}
	if p, err := sc.Reader().Next(maxIn); err != nil || !bytes.Equal(p, want[:maxIn]) {
		t.Fatalf("Next(MaxInput) after the failed read = %d bytes, %v", len(p), err)
	}
	sc.Reader().Release()
}

// After Close every Reader and Writer call fails with net.ErrClosed
// (none panics or waits), Len (soon) and MallocLen say 0, and a batch open at
// the Close is freed by the Flush that fails.
func TestReview12MisuseAfterClose(t *testing.T) {
	misuseNodes(t)
	sc, cl := acceptPair(t)
	if _, err := cl.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	r, w := sc.Reader(), sc.Writer()
	if _, err := r.Peek(5); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Malloc(100); err != nil {
		t.Fatal(err)
	}
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
	other := buffer.New()
	other.WriteString("abc")
	other.Flush()
	start := time.Now()
	for name, f := range map[string]func() error{
		"Next":       func() error { _, err := r.Next(1); return err },
		"Next(0)":    func() error { _, err := r.Next(0); return err },
		"Peek":       func() error { _, err := r.Peek(1); return err },
		"Skip":       func() error { return r.Skip(1) },
		"Until":      func() error { _, err := r.Until('\n'); return err },
		"ReadByte":   func() error { _, err := r.ReadByte(); return err },
		"ReadBinary": func() error { _, err := r.ReadBinary(1); return err },
		"ReadString": func() error { _, err := r.ReadString(1); return err },
		"Slice":      func() error { _, err := r.Slice(1); return err },
		"Release":    func() error { return r.Release() },
		"Malloc":     func() error { _, err := w.Malloc(1); return err },
		"MallocAck":  func() error { return w.MallocAck(0) },
		"WriteBinary": func() error {
			_, err := w.WriteBinary([]byte("x"))
			return err
		},
		"WriteString": func() error { _, err := w.WriteString("x"); return err },
		"WriteByte":   func() error { return w.WriteByte('x') },
		"Append":      func() error { return w.Append(other) },
		"Flush":       func() error { return w.Flush() },
		"Flush again": func() error { return w.Flush() },
		"FlushAsync":  func() error { return w.FlushAsync() },
	} {
		misuseNoPanic(t, name, func() {
			if err := f(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("%s after Close = %v, want net.ErrClosed", name, err)
			}
		})
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the calls after Close took %v", d)
	}
	// Len says 0 once the connection's last reference is gone: under
	// BackendUring a receive in flight holds one for a moment after
	// Close, and Len counts the input until then.
	if !testutil.WaitFor(2*time.Second, func() bool { return r.Len() == 0 }) {
		t.Errorf("Len 2 s after Close = %d", r.Len())
	}
	if other.Len() != 3 {
		t.Errorf("a refused Append took the other buffer's bytes: Len %d", other.Len())
	}
	other.Close()
	if n := w.MallocLen(); n != 0 {
		t.Errorf("MallocLen after Close and Flush = %d", n)
	}
}

// misuseRecord is the i-th 8-byte record of the concurrency tests.
func misuseRecord(i int) []byte { return fmt.Appendf(nil, "%08d", i) }

// Two goroutines writing records with WriteBinary and Flush (the other
// FlushAsync), each on its own, without coordination: the Writer's methods are serialized, so
// every record arrives whole and once (their order between the two
// writers is not defined), and a bystander connection's echo is intact.
func TestReview12MisuseConcurrentFlush(t *testing.T) {
	misuseNodes(t)
	const per = 2000
	sc, cl := acceptPair(t)
	sc2, cl2 := acceptPair(t) // a bystander, written at the same time
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 {
			sc2.Writer().WriteString("BBBBBBBBBBBBBBBB")
			sc2.Writer().Flush()
		}
	}()
	errs := make(chan error, 2)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := sc.Writer()
			for i := range per {
				if _, err := w.WriteBinary(misuseRecord(g*per + i)); err != nil {
					errs <- err
					return
				}
				flush := w.Flush
				if g == 1 {
					flush = w.FlushAsync
				}
				if err := flush(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	got := misuseReadN(t, cl, 2*per*8)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make([]bool, 2*per)
	for k := 0; k < len(got); k += 8 {
		var i int
		if _, err := fmt.Sscanf(string(got[k:k+8]), "%08d", &i); err != nil || i < 0 || i >= 2*per || seen[i] {
			t.Fatalf("record at %d is %q: torn or repeated", k, got[k:k+8])
		}
		seen[i] = true
	}
	if got := misuseReadN(t, cl2, 1600); !bytes.Equal(got, bytes.Repeat([]byte("B"), 1600)) {
		t.Fatalf("the bystander got %q...", got[:32])
	}
}

// Two goroutines reading records with ReadBinary at once: Reader calls
// are serialized (Conn's doc), so every record is read whole by exactly
// one of them; and another connection's input is untouched.
func TestReview12MisuseConcurrentReaders(t *testing.T) {
	misuseNodes(t)
	const n = 4000
	sc, cl := acceptPair(t)
	sc2, cl2 := acceptPair(t)
	var all []byte
	for i := range n {
		all = append(all, misuseRecord(i)...)
	}
	go cl.Write(all)
	go cl2.Write(bytes.Repeat([]byte("B"), len(all)))
	sc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var mu sync.Mutex
	seen := make([]bool, n)
	var count atomic.Int32
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := sc.Reader()
			for count.Load() < n {
				p, err := r.ReadBinary(8)
				if err != nil {
					if count.Load() < n {
						t.Errorf("ReadBinary: %v", err)
					}
					return
				}
				var i int
				fmt.Sscanf(string(p), "%08d", &i)
				mu.Lock()
				if i < 0 || i >= n || seen[i] || string(p) != string(misuseRecord(i)) {
					mu.Unlock()
					t.Errorf("read %q: torn or repeated", p)
					sc.Close()
					return
				}
				seen[i] = true
				mu.Unlock()
				if count.Add(1) == n {
					sc.Close() // wakes the other reader
				}
				r.Release()
			}
		}()
	}
	wg.Wait()
	if c := count.Load(); c != n {
		t.Fatalf("%d records read, want %d", c, n)
	}
	sc2.SetReadDeadline(time.Now().Add(5 * time.Second))
	p, err := sc2.Reader().Next(len(all))
	if err != nil || !bytes.Equal(p, bytes.Repeat([]byte("B"), len(all))) {
		t.Fatalf("the other connection read %d bytes, %v, not its own", len(p), err)
	}
	sc2.Reader().Release()
}

// misuseHandler serves the handler tests. The first byte of each run's
// input says what the run does:
//
//	e: echo the run's input (the e too)
//	r: Malloc and write, then return an error without Flush
//	p: Malloc, then panic without Flush
//	P: panic
//	anything else: return an error
//	k: Next(5) kept (no Release) until the next k run, which checks it
//	   still holds what it read, answers it, and then releases
//	g: hand the rest to a goroutine that reads after the handler
//	   returned (Next(4) with a deadline), answers and releases
func misuseHandler(t *testing.T) Handler {
	var kept sync.Map // *Conn -> []byte
	var handed sync.Map
	return func(c *Conn) error {
		if _, ok := handed.Load(c); ok {
			return nil // the goroutine reads
		}
		r, w := c.Reader(), c.Writer()
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		switch b {
		case 'e':
			p, err := r.Next(r.Len())
			if err != nil {
				return err
			}
			w.WriteByte('e')
			w.WriteBinary(p)
			r.Release()
			return w.Flush()
		case 'r':
			p, err := w.Malloc(4096)
			if err != nil {
				return err
			}
			copy(p, "never sent")
			return errors.New("misuse: the handler fails")
		case 'p':
			p, _ := w.Malloc(8192)
			copy(p, "never sent")
			panic("misuse: the handler panics")
		case 'P':
			panic("misuse: the handler panics")
		case 'k':
			p, err := r.Next(5)
			if err != nil {
				return err
			}
			old, ok := kept.Swap(c, p)
			if !ok {
				return nil // kept, no Release
			}
			w.WriteBinary(old.([]byte))
			w.WriteBinary(p)
			kept.Delete(c)
			r.Release()
			return w.Flush()
		case 'g':
			handed.Store(c, true)
			go func() {
				defer c.Close()
				for range 3 {
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					p, err := r.Next(4)
					if err != nil {
						t.Errorf("Next after the handler returned: %v", err)
						return
					}
					w.WriteBinary(p)
					r.Release()
					if err := w.Flush(); err != nil {
						t.Errorf("Flush after the handler returned: %v", err)
						return
					}
				}
			}()
			return nil
		}
		return fmt.Errorf("misuse: unknown command %q", b)
	}
}

// misuseWaitClosed waits for the server to close cl: the peer reads EOF
// or a reset within 5 s, with nothing before it.
func misuseWaitClosed(t *testing.T, cl net.Conn) {
	t.Helper()
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := cl.Read(make([]byte, 64))
	var ne net.Error
	if n != 0 || err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the peer read %d bytes, %v; want the connection closed, nothing sent", n, err)
	}
}

// misuseFailRuns dials addr rounds times, sends one of cmds (in turn)
// and waits for the server to close the connection, checking that a
// bystander connection echoes before and after.
func misuseFailRuns(t *testing.T, addr string, rounds int, cmds ...string) {
	t.Helper()
	by := dialTCP(t, addr)
	misuseEcho(t, by, []byte("ebefore"))
	for i := range rounds {
		cl := dialTCP(t, addr)
		if _, err := cl.Write([]byte(cmds[i%len(cmds)])); err != nil {
			t.Fatal(err)
		}
		misuseWaitClosed(t, cl)
		cl.Close()
	}
	misuseEcho(t, by, []byte("eafter"))
	by.Close()
}

// A handler that returns an error or panics closes its connection only:
// bystanders echo on, and nothing is left behind (the leak check).
func TestReview12MisuseHandlerFails(t *testing.T) {
	misuseNodes(t)
	_, addr := startServer(t, misuseHandler(t))
	misuseFailRuns(t, addr, 20, "x", "P")
}

// A handler that fails or panics with a batch Malloc'ed and not flushed
// closes its connection only, and nothing of the batch is sent. The
// batch is the writer's until a Flush (Writer's doc): no Flush comes, so
// its nodes go to the garbage collector rather than the pool, and
// buffer.LiveNodes goes on counting them, one per batch here. What the
// test checks is that none is freed twice (the count never falls below
// where it was) and that no more than the batches stay counted.
func TestReview12MisuseHandlerFailsWithBatch(t *testing.T) {
	testutil.CheckLeaks(t)
	prev := buffer.SetNodeAccounting(true)
	t.Cleanup(func() { buffer.SetNodeAccounting(prev) })
	const rounds = 20
	base := buffer.LiveNodes()
	func() {
		s, addr := startServer(t, misuseHandler(t))
		misuseFailRuns(t, addr, rounds, "r", "p")
		s.Close()
	}()
	var live int64
	testutil.WaitFor(5*time.Second, func() bool { live = buffer.LiveNodes(); return live <= base+rounds })
	if live < base || live > base+rounds {
		t.Fatalf("buffer.LiveNodes = %d after %d failed handlers with open batches, was %d: want at most one node more per batch, and never fewer", live, rounds, base)
	}
	t.Logf("buffer.LiveNodes %d -> %d: the batches left to the garbage collector", base, live)
}

// A handler may keep a Next slice without Release into its next run: it
// still holds the bytes read then (the Reader's doc: valid until
// Release), while other connections read and release meanwhile.
func TestReview12MisuseHandlerKeepsSlice(t *testing.T) {
	misuseNodes(t)
	_, addr := startServer(t, misuseHandler(t))
	by := dialTCP(t, addr)
	for i := range 10 {
		cl := dialTCP(t, addr)
		a := fmt.Appendf(nil, "kA%03d", i)
		if _, err := cl.Write(append([]byte("k"), a...)); err != nil {
			t.Fatal(err)
		}
		// Other connections' traffic between the two runs.
		misuseEcho(t, by, bytes.Repeat([]byte("e"), 3000))
		b := fmt.Appendf(nil, "kB%03d", i)
		time.Sleep(5 * time.Millisecond)
		if _, err := cl.Write(append([]byte("k"), b...)); err != nil {
			t.Fatal(err)
		}
		if got := misuseReadN(t, cl, 10); string(got) != string(a)+string(b) {
			t.Fatalf("round %d: got %q, want %q: the kept slice changed", i, got, string(a)+string(b))
		}
		// Closed with a slice kept.
		if _, err := cl.Write([]byte("kkC000")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		cl.Close()
	}
	misuseEcho(t, by, []byte("eafter"))
	by.Close()
}

// A goroutine that the handler started reads and writes after the
// handler returned: Reader and Writer calls are the connection's, not
// the handler's (Conn's doc serializes them), so it works.
func TestReview12MisuseReaderAfterHandler(t *testing.T) {
	skipInline(t)
	misuseNodes(t)
	_, addr := startServer(t, misuseHandler(t))
	for range 5 {
		cl := dialTCP(t, addr)
		if _, err := cl.Write([]byte("g")); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			time.Sleep(2 * time.Millisecond)
			msg := fmt.Appendf(nil, "m%03d", i)
			if _, err := cl.Write(msg); err != nil {
				t.Fatal(err)
			}
			if got := misuseReadN(t, cl, 4); !bytes.Equal(got, msg) {
				t.Fatalf("got %q, want %q", got, msg)
			}
		}
		misuseWaitClosed(t, cl)
		cl.Close()
	}
}

// A handler that asks for more than MaxInput in one Next gets it: the
// poller reads that far for a waiting reader (and, inline, for the run
// that returned on ErrWouldBlock), on every dispatch.
func TestReview12MisuseHandlerNextAboveMaxInput(t *testing.T) {
	misuseNodes(t)
	const maxIn = 32 << 10
	want := bytes.Repeat([]byte("0123456789abcdef"), 3*maxIn/16)
	for _, d := range []Dispatch{DispatchHandoff, DispatchInline} {
		t.Run(d.String(), func(t *testing.T) {
			h := func(c *Conn) error {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				p, err := c.Reader().Next(len(want))
				if errors.Is(err, ErrWouldBlock) {
					return nil
				}
				if err != nil {
					return err
				}
				w := c.Writer()
				w.WriteBinary(p[:16])
				c.Reader().Release()
				return w.Flush()
			}
			_, addr := startServer(t, h, WithMaxInput(maxIn), WithDispatch(d))
			cl := dialTCP(t, addr)
			go cl.Write(want)
			if got := misuseReadN(t, cl, 16); !bytes.Equal(got, want[:16]) {
				t.Fatalf("got %q", got)
			}
			cl.Close()
		})
	}
}

// The Writer after CloseWrite: every write and Flush fails with
// ErrWriteShutdown, none panics, and the reading side still works.
func TestReview12MisuseWriterAfterCloseWrite(t *testing.T) {
	misuseNodes(t)
	sc, cl := acceptPair(t)
	w := sc.Writer()
	w.WriteString("sent")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := sc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	other := buffer.New()
	other.WriteString("abc")
	other.Flush()
	defer other.Close()
	for name, f := range map[string]func() error{
		"Malloc":      func() error { _, err := w.Malloc(1); return err },
		"WriteBinary": func() error { _, err := w.WriteBinary([]byte("x")); return err },
		"WriteString": func() error { _, err := w.WriteString("x"); return err },
		"WriteByte":   func() error { return w.WriteByte('x') },
		"Append":      func() error { return w.Append(other) },
		"Flush":       func() error { return w.Flush() },
		"FlushAsync":  func() error { return w.FlushAsync() },
	} {
		misuseNoPanic(t, name, func() {
			if err := f(); !errors.Is(err, ErrWriteShutdown) {
				t.Errorf("%s after CloseWrite = %v, want ErrWriteShutdown", name, err)
			}
		})
	}
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := io.ReadAll(cl); err != nil || string(got) != "sent" {
		t.Fatalf("peer read %q, %v; want \"sent\" then EOF", got, err)
	}
	if _, err := cl.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if p, err := sc.Reader().Next(4); err != nil || string(p) != "back" {
		t.Fatalf("Next after CloseWrite = %q, %v", p, err)
	}
	sc.Reader().Release()
}

// Echo without a copy: Slice of the input appended to the output. The
// Slice, emptied by Append, may be appended again (nothing) and closed;
// appending it once closed fails.
func TestReview12MisuseAppendOwnSlice(t *testing.T) {
	misuseNodes(t)
	sc, cl := acceptPair(t)
	if _, err := cl.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := sc.Reader().Slice(11)
	if err != nil {
		t.Fatal(err)
	}
	w := sc.Writer()
	if err := w.Append(s); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(s); err != nil {
		t.Errorf("Append of the emptied Slice = %v", err)
	}
	s.Close()
	if err := w.Append(s); !errors.Is(err, buffer.ErrClosed) {
		t.Errorf("Append of the closed Slice = %v, want buffer.ErrClosed", err)
	}
	sc.Reader().Release()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := misuseReadN(t, cl, 11); string(got) != "hello world" {
		t.Fatalf("peer got %q", got)
	}
}

// misuseHelperHandler hands each connection, on its first run, to a
// goroutine that runs helper; later runs call again (a Reader or
// Writer call) and send its error, if any, to errs.
func misuseHelperHandler(helper func(c *Conn), again func(c *Conn) error, errs chan<- error) Handler {
	var handed sync.Map
	return func(c *Conn) error {
		if _, ok := handed.Load(c); ok {
			if err := again(c); err != nil {
				select {
				case errs <- err:
				default:
				}
			}
			return nil
		}
		c.Reader().Skip(1)
		handed.Store(c, true)
		go helper(c)
		return nil
	}
}

// An inline handler whose Reader call would wait for another goroutine's
// Reader call, which waits for input, gets ErrWouldBlock: before, it
// waited on the poller, which alone would read that input, and the
// other goroutine's Next waited until its deadline (for ever without
// one) with every connection of the poller. Other dispatches wait as
// before.
func TestReview12MisuseInlineReaderContended(t *testing.T) {
	misuseNodes(t)
	for _, d := range []Dispatch{DispatchHandoff, DispatchInline, DispatchPool} {
		t.Run(d.String(), func(t *testing.T) {
			errs := make(chan error, 1)
			helper := func(c *Conn) {
				defer c.Close()
				r := c.Reader()
				for range 20 {
					c.SetReadDeadline(time.Now().Add(3 * time.Second))
					p, err := r.Next(4)
					if err != nil {
						t.Errorf("the goroutine's Next: %v", err)
						return
					}
					c.Writer().WriteBinary(p)
					r.Release()
					c.Writer().Flush()
				}
			}
			again := func(c *Conn) error {
				_, err := c.Reader().Peek(0) // waits for the goroutine's Next, or ErrWouldBlock
				if err == nil {
					err = c.Reader().Release()
				}
				if errors.Is(err, ErrWouldBlock) || errors.Is(err, net.ErrClosed) {
					return nil // net.ErrClosed: the goroutine is done
				}
				return err
			}
			_, addr := startServer(t, misuseHelperHandler(helper, again, errs), WithDispatch(d), WithPollers(1))
			cl := dialTCP(t, addr)
			cl.Write([]byte("g"))
			for i := range 20 {
				msg := fmt.Appendf(nil, "m%03d", i)
				start := time.Now()
				cl.Write(msg)
				got := misuseReadN(t, cl, 4)
				if !bytes.Equal(got, msg) || time.Since(start) > time.Second {
					t.Fatalf("round %d: %q after %v", i, got, time.Since(start))
				}
			}
			select {
			case err := <-errs:
				t.Fatalf("the handler's Reader call: %v", err)
			default:
			}
		})
	}
}

// An inline handler whose write would wait for another goroutine's
// Flush, which waits for room that the poller would make, gets
// ErrWouldBlock: before, it waited on the poller until that Flush's
// deadline (for ever without one), the poller sending nothing of the
// connection's output meanwhile, then wrote; the Flush timed out though
// the peer was reading.
func TestReview12MisuseInlineWriterContended(t *testing.T) {
	skipStd(t, "no poller: an inline handler's write waits as any other")
	misuseNodes(t)
	const size = 8 << 20
	errs := make(chan error, 4)
	helperErr := make(chan error, 1)
	conns := make(chan *Conn, 1)
	helper := func(c *Conn) {
		conns <- c
		c.SetWriteBuffer(32 << 10) // the kernel takes little of the 8 MiB
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Writer().WriteBinary(bytes.Repeat([]byte("A"), size))
		helperErr <- c.Writer().Flush()
	}
	again := func(c *Conn) error {
		r := c.Reader()
		r.Skip(r.Len())
		r.Release()
		_, err := c.Writer().WriteString("h")
		if err == nil {
			err = c.Writer().Flush()
		}
		if err == nil {
			err = errors.New("the handler's write went through")
		}
		return err
	}
	_, addr := startServer(t, misuseHelperHandler(helper, again, errs),
		WithDispatch(DispatchInline), WithPollers(1), WithMaxOutput(64<<10))
	cl := dialTCP(t, addr)
	cl.SetReadBuffer(32 << 10)
	cl.Write([]byte("g"))
	c := recvConn(t, conns)
	if !testutil.WaitFor(5*time.Second, func() bool { return c.flags.Load()&fWriterWaiting != 0 }) {
		t.Fatal("the goroutine's Flush does not wait for room")
	}
	cl.Write([]byte("x"))
	// The peer reads slowly: the poller takes "x" once the output is
	// below its bound (it reads no input above it) and runs the handler
	// while the goroutine's Flush still waits.
	read := make(chan error, 1)
	go func() {
		cl.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 32<<10)
		for got := 0; got < size; {
			n, err := cl.Read(buf)
			got += n
			if err != nil {
				read <- fmt.Errorf("the peer read %d bytes: %w", got, err)
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		read <- nil
	}()
	select {
	case err := <-errs:
		if !errors.Is(err, ErrWouldBlock) {
			t.Errorf("the handler's write = %v, want ErrWouldBlock", err)
		}
	case <-time.After(8 * time.Second):
		t.Error("the handler did not write in 8 s")
	}
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	if err := <-helperErr; err != nil {
		t.Fatalf("the goroutine's Flush = %v, the peer reading all along", err)
	}
}
