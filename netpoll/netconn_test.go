package netpoll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// acceptPair returns a server-side *Conn (accept mode) and its client.
func acceptPair(t testing.TB, opts ...Option) (*Conn, *net.TCPConn) {
	t.Helper()
	_, addr, conns := startAccept(t, opts...)
	cl := dialTCP(t, addr)
	c := recvConn(t, conns)
	t.Cleanup(func() { c.Close() })
	return c, cl
}

func TestReadWriteEOF(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithTrigger(trig))
			if _, err := cl.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			cl.CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "hello" {
				t.Fatalf("ReadAll = %q, %v", got, err)
			}
			n, err := c.Read(make([]byte, 8))
			if n != 0 || err != io.EOF {
				t.Fatalf("Read after EOF = %d, %v; want exactly io.EOF", n, err)
			}
			// Half-close: the peer shut its side, we can still write.
			if _, err := c.Write([]byte("world")); err != nil {
				t.Fatal(err)
			}
			c.Close()
			back, err := io.ReadAll(cl)
			if err != nil || string(back) != "world" {
				t.Fatalf("client got %q, %v", back, err)
			}
		})
	}
}

func TestCloseWriteThenRead(t *testing.T) {
	c, cl := acceptPair(t)
	if _, err := c.Write([]byte("req")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	cl.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(cl)
	if err != nil || string(got) != "req" {
		t.Fatalf("client ReadAll = %q, %v", got, err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrWriteShutdown) {
		t.Fatalf("Write after CloseWrite = %v", err)
	}
	cl.Write([]byte("resp"))
	cl.Close()
	back, err := io.ReadAll(c)
	if err != nil || string(back) != "resp" {
		t.Fatalf("server ReadAll after CloseWrite = %q, %v", back, err)
	}
}

func TestReadDeadline(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithTrigger(trig))
			start := time.Now() // before the deadline: a late goroutine cannot shorten d
			c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			_, err := c.Read(make([]byte, 1))
			if !testutil.IsTimeout(err) {
				t.Fatalf("Read = %v (%T); want *net.OpError timeout", err, err)
			}
			if d := time.Since(start); d < 25*time.Millisecond || d > 2*time.Second {
				t.Fatalf("timeout after %v", d)
			}
			// Reset: the deadline can be moved and reads work again.
			c.SetReadDeadline(time.Time{})
			cl.Write([]byte("a"))
			b := make([]byte, 1)
			if _, err := c.Read(b); err != nil || b[0] != 'a' {
				t.Fatalf("Read after reset = %v", err)
			}
		})
	}
}

func TestPastDeadlineWakesBlockedRead(t *testing.T) {
	c, _ := acceptPair(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // let it block
	c.SetReadDeadline(time.Unix(1, 0))
	select {
	case err := <-done:
		if !testutil.IsTimeout(err) {
			t.Fatalf("blocked Read = %v; want timeout", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("past deadline did not wake the blocked Read")
	}
}

func TestWriteDeadline(t *testing.T) {
	c, _ := acceptPair(t, WithMaxOutput(64<<10))
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	big := make([]byte, 64<<20) // the client never reads: kernel buffers fill
	n, err := c.Write(big)
	if !testutil.IsTimeout(err) {
		t.Fatalf("Write = %d, %v; want timeout", n, err)
	}
	if n >= len(big) {
		t.Fatalf("Write reported %d bytes", n)
	}
	c.SetWriteDeadline(time.Unix(1, 0))
	if _, err := c.Write([]byte("x")); !testutil.IsTimeout(err) {
		t.Fatalf("Write with past deadline = %v", err)
	}
}

func TestSetReadDeadlineAllocs(t *testing.T) {
	c, _ := acceptPair(t)
	// Make the waiter exist, as it does for any connection that blocked.
	c.SetReadDeadline(time.Now().Add(time.Millisecond))
	c.Read(make([]byte, 1))
	t1 := time.Now().Add(time.Hour)
	allocs := testing.AllocsPerRun(1000, func() {
		c.SetReadDeadline(t1)
		c.SetReadDeadline(time.Time{})
		c.SetWriteDeadline(t1)
		c.SetDeadline(time.Time{})
	})
	if allocs != 0 {
		t.Fatalf("deadline setters allocate %.1f times", allocs)
	}
}

func TestCloseUnblocks(t *testing.T) {
	c, _ := acceptPair(t, WithMaxOutput(1<<10))
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { defer wg.Done(); _, err := c.Read(make([]byte, 1)); errs <- err }()
	go func() { defer wg.Done(); _, err := c.Reader().Next(10); errs <- err }()
	go func() { defer wg.Done(); _, err := c.Write(make([]byte, 8<<20)); errs <- err }()
	time.Sleep(50 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitGroup(t, &wg, 5*time.Second)
	close(errs)
	for err := range errs {
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("blocked call returned %v; want net.ErrClosed", err)
		}
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v", err)
	}
	if err := c.SetReadDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetReadDeadline after Close = %v", err)
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatal("goroutines still blocked")
	}
}

// TestConcurrentReadsSerialized reads one stream with four goroutines at
// once: each Read must return a contiguous run of the stream, and the
// runs together must be the stream, every byte once (net.Conn allows
// concurrent Reads and the Conn serializes them).
func TestConcurrentReadsSerialized(t *testing.T) {
	c, cl := acceptPair(t)
	const n = 64 << 10
	stream := testutil.RandomBytes(1, n)
	go cl.Write(stream)
	var mu sync.Mutex
	var pieces [][]byte
	total := 0
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for i := 0; ; i++ {
				b := make([]byte, 7+(g+i)%13)
				m, err := c.Read(b)
				mu.Lock()
				pieces = append(pieces, b[:m])
				total += m
				done := total >= n
				mu.Unlock()
				if err != nil || done {
					c.SetReadDeadline(time.Unix(1, 0)) // release the others
					return
				}
			}
		}()
	}
	waitGroup(t, &wg, 10*time.Second)
	if err := testutil.Tile(stream, pieces); err != nil {
		t.Fatalf("%d reads: %v", len(pieces), err)
	}
}

func TestAddrs(t *testing.T) {
	c, cl := acceptPair(t)
	if c.LocalAddr().String() != cl.RemoteAddr().String() {
		t.Errorf("LocalAddr %v, client sees %v", c.LocalAddr(), cl.RemoteAddr())
	}
	if c.RemoteAddr().String() != cl.LocalAddr().String() {
		t.Errorf("RemoteAddr %v, client is %v", c.RemoteAddr(), cl.LocalAddr())
	}
	// The same values as Go's net gives, down to the IP's length (four
	// bytes for IPv4): code that compares addresses with
	// reflect.DeepEqual or len(IP) sees no difference.
	if !reflect.DeepEqual(c.RemoteAddr(), cl.LocalAddr()) {
		t.Errorf("RemoteAddr %#v, Go's net has %#v", c.RemoteAddr(), cl.LocalAddr())
	}
	if !reflect.DeepEqual(c.LocalAddr(), cl.RemoteAddr()) {
		t.Errorf("LocalAddr %#v, Go's net has %#v", c.LocalAddr(), cl.RemoteAddr())
	}
}

// TestAddrsIPv6Peer accepts on a dual-stack socket, so the peer comes as
// an IPv6 (v4-mapped) address, which Conn keeps out of line: the address
// must survive the extension being replaced by timeouts and by the close.
// The traffic itself goes to 127.0.0.1.
func TestAddrsIPv6Peer(t *testing.T) {
	ln, err := Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack socket here: %v", err)
	}
	conns := make(chan *Conn, 1)
	s, err := NewServer(nil, WithOnConnect(func(c *Conn) { conns <- c }))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cl := dialTCP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	c := recvConn(t, conns)
	want := cl.LocalAddr().(*net.TCPAddr)
	check := func(when string) {
		t.Helper()
		ra, ok := c.RemoteAddr().(*net.TCPAddr)
		if !ok || !ra.IP.Equal(want.IP) || ra.Port != want.Port || len(ra.IP) != net.IPv6len {
			t.Fatalf("%s: RemoteAddr = %#v, want %v as a 16-byte IP", when, c.RemoteAddr(), want)
		}
	}
	check("accepted")
	c.SetReadTimeout(time.Hour)
	c.SetIdleTimeout(time.Hour)
	check("after timeouts")
	c.Close()
	check("after Close")
}

// TestReadDeadlineSetWhileReading sets the same read deadline from
// three goroutines at once while a Read is blocked, then sends one
// byte, round after round. Every set wakes the blocked read; no
// interleaving of those wakes with the read re-arming its deadline may
// leave the socket's deadline in the past while the read believes the
// deadline is set, or the read spins on timeouts and never takes the
// byte.
func TestReadDeadlineSetWhileReading(t *testing.T) {
	for _, b := range []Backend{BackendDefault, BackendStd} {
		t.Run(b.String(), func(t *testing.T) {
			c, cl := acceptPair(t, WithBackend(b))
			start := time.Now()
			buf := make([]byte, 8)
			for round := 0; round < 300 && time.Since(start) < 3*time.Second; round++ {
				got := make(chan error, 1)
				dl := time.Now().Add(10 * time.Second)
				c.SetReadDeadline(dl)
				go func() {
					n, err := c.Read(buf)
					if err == nil && (n != 1 || buf[0] != byte(round)) {
						err = fmt.Errorf("read %d bytes %q", n, buf[:n])
					}
					got <- err
				}()
				time.Sleep(100 * time.Microsecond) // let the read block
				var wg sync.WaitGroup
				for range 3 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c.SetReadDeadline(dl)
					}()
				}
				wg.Wait()
				if _, err := cl.Write([]byte{byte(round)}); err != nil {
					t.Fatal(err)
				}
				select {
				case err := <-got:
					if err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("round %d: the byte sent 2s ago was not read", round)
				}
			}
		})
	}
}
