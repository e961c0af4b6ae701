package netpoll

// Review of the documented contracts (README.md, doc.go, options.go,
// errors.go, stats.go, env.go): each test quotes the promise it checks.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// reviewDocsWait polls cond every 5 ms until it holds or d passes.
func reviewDocsWait(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// TestDocsDialerOptionsBackendUring checks a Dialer whose Options
// ask for the io_uring backend.
//
// options.go:304-305: "Option sets one field (or, WithConfig, all) of the
// Config of a Server, a Listener or a Dialer."
// options.go:35-38: "BackendUring is upoll's poller on io_uring (Linux
// only) ... Where io_uring cannot be used, asking for it is an error
// naming the cause."
// README.md:117-118: "a bad one makes `NewServer`, `Listen` and a `Dialer`
// with options fail with an error" -- and the review rule: bad input never
// crashes.
//
// So DialContext with Options{WithBackend(BackendUring)} must either dial
// on io_uring or return an error; it must not panic.
func TestDocsDialerOptionsBackendUring(t *testing.T) {
	addr := goServer(t, func(c net.Conn) { io.Copy(c, c) })
	for _, b := range []Backend{BackendUring, BackendEpoll, BackendStd} {
		t.Run(b.String(), func(t *testing.T) {
			d := Dialer{Timeout: 3 * time.Second, Options: []Option{WithBackend(b)}}
			var (
				c     *Conn
				err   error
				panic any
			)
			func() {
				defer func() { panic = recover() }()
				c, err = d.DialContext(context.Background(), "tcp", addr)
			}()
			if panic != nil {
				t.Fatalf("Dialer{Options: WithBackend(%v)}.DialContext panicked: %v", b, panic)
			}
			if err != nil {
				if !errors.Is(err, ErrBackendUnavailable) {
					t.Fatalf("DialContext: %v, want a connection or ErrBackendUnavailable", err)
				}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			b, err := c.Reader().Next(4)
			if err != nil || string(b) != "ping" {
				t.Fatalf("echo: %q, %v", b, err)
			}
		})
	}
}

// TestDocsStdWithPollersSameLayer checks README.md:122: "The
// switches below up to `reuseport` are the epoll backend's; with `std`
// the configuration shows them as `n/a`, and giving one in the same place
// as `backend=std` is an error." `pollers` (README.md:126) is one of the
// switches between `backend` and `reuseport`, and Config.String does
// show it as n/a under std.
func TestDocsStdWithPollersSameLayer(t *testing.T) {
	t.Setenv(EnvVar, "backend=std,pollers=4")
	s, err := NewServer(echoHandler)
	if err == nil {
		defer s.Close()
		t.Fatalf("UPOLL=backend=std,pollers=4: NewServer succeeded (config %s); README says giving pollers with backend=std is an error",
			s.Config())
	}
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "pollers") {
		t.Fatalf("UPOLL=backend=std,pollers=4: err = %v, want ErrBadConfig naming pollers", err)
	}
}

// TestDocsEnvOutOfRangeIsEnvError checks env.go's keys: a value
// out of its key's range (maxinput, maxoutput over 1g) is an *EnvError
// naming the key; a budget below one connection's bounds, valid alone,
// is refused with the values together as ErrBadConfig (doc.go).
func TestDocsEnvOutOfRangeIsEnvError(t *testing.T) {
	for _, tc := range []struct{ env, key string }{
		{"maxinput=2g", "maxinput"},
		{"maxoutput=2g", "maxoutput"},
		{"budget=1k", ""},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Setenv(EnvVar, tc.env)
			s, err := NewServer(echoHandler)
			if err == nil {
				s.Close()
				t.Fatalf("UPOLL=%s: NewServer succeeded", tc.env)
			}
			var ee *EnvError
			switch {
			case tc.key == "" && !errors.Is(err, ErrBadConfig):
				t.Fatalf("UPOLL=%s: NewServer err = %q, want ErrBadConfig", tc.env, err)
			case tc.key != "" && (!errors.As(err, &ee) || ee.Key != tc.key):
				t.Fatalf("UPOLL=%s: NewServer err = %q (%T), want an *EnvError naming key %q", tc.env, err, err, tc.key)
			}
		})
	}
}

// TestDocsStatsCounts makes a known number of connections,
// messages and handler runs and checks the counters of stats.go:
//
//	stats.go:15 BytesIn "bytes read from sockets"
//	stats.go:16 BytesOut "bytes written to sockets"
//	stats.go:21 HandlerRuns "handler invocations"
//	stats.go:28 LiveConns "connections open now"
//	stats.go:29 TotalConns "connections ever registered"
//	stats.go:31-34 BufferedIn/Out, PausedByBound/Budget: gauges "now"
//	stats.go:91-92 "The embedded PollerStats holds the sums ...;
//	PerPoller holds each poller's own."
//
// Existing tests check BytesIn/BytesOut/TotalConns/LiveConns
// (matrix_test.go) but HandlerRuns only for being non-zero; this one
// checks it against the handler's own count, and the sums of PerPoller.
func TestDocsStatsCounts(t *testing.T) {
	const conns, msgs, size = 3, 4, 100
	testutil.CheckLeaks(t)
	var calls atomic.Int64
	h := func(c *Conn) error {
		calls.Add(1)
		return echoHandler(c)
	}
	s, addr := startServer(t, h, WithPollers(2))
	clients := make([]net.Conn, conns)
	for i := range clients {
		clients[i] = dialTCP(t, addr)
	}
	if !reviewDocsWait(5*time.Second, func() bool { return s.Stats().LiveConns == conns }) {
		t.Fatalf("LiveConns = %d with %d connections open", s.Stats().LiveConns, conns)
	}
	msg := []byte(strings.Repeat("x", size))
	buf := make([]byte, size)
	for i := range msgs {
		for _, cl := range clients {
			cl.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := cl.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(cl, buf); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
	}
	for _, cl := range clients {
		cl.Close()
	}
	const total = conns * msgs * size
	ok := reviewDocsWait(5*time.Second, func() bool {
		st := s.Stats()
		return st.LiveConns == 0 && st.BytesIn == total && st.BytesOut == total
	})
	st := s.Stats()
	if !ok {
		t.Fatalf("after %d B echoed: LiveConns=%d BytesIn=%d BytesOut=%d", total, st.LiveConns, st.BytesIn, st.BytesOut)
	}
	if st.TotalConns != conns {
		t.Errorf("TotalConns = %d, want %d", st.TotalConns, conns)
	}
	if n := calls.Load(); st.HandlerRuns != uint64(n) || n < conns*msgs {
		t.Errorf("HandlerRuns = %d; the handler was invoked %d times (at least %d messages)", st.HandlerRuns, n, conns*msgs)
	}
	if st.BufferedIn != 0 || st.BufferedOut != 0 || st.PausedByBound != 0 || st.PausedByBudget != 0 {
		t.Errorf("gauges with every connection closed: BufferedIn=%d BufferedOut=%d PausedByBound=%d PausedByBudget=%d",
			st.BufferedIn, st.BufferedOut, st.PausedByBound, st.PausedByBudget)
	}
	var sum PollerStats
	for _, p := range st.PerPoller {
		sum.add(p)
	}
	if sum.TotalConns != st.TotalConns || sum.BytesIn != st.BytesIn || sum.BytesOut != st.BytesOut ||
		sum.HandlerRuns != st.HandlerRuns {
		t.Errorf("PerPoller sums %+v differ from the totals %+v", sum, st.PollerStats)
	}
}

// TestDocsStatsWriteEAGAIN checks stats.go:20 WriteEAGAIN "writes
// the kernel refused (EAGAIN)" (no other test checks it), with
// stats.go:32 BufferedOut "bytes of unsent output queued now" bounded by
// MaxOutput (options.go:231 "MaxOutput bounds the unsent output per
// connection") while a peer does not read, and BytesOut counting every
// byte once it does.
func TestDocsStatsWriteEAGAIN(t *testing.T) {
	testutil.CheckLeaks(t)
	s, addr, ch := startAccept(t, WithPollers(1))
	cl := dialTCP(t, addr)
	c := recvConn(t, ch)
	defer c.Close()
	const total = 8 << 20 // more than loopback's send and receive buffers take from a peer that does not read
	done := make(chan error, 1)
	go func() {
		c.SetWriteDeadline(time.Now().Add(8 * time.Second))
		n, err := c.Write(make([]byte, total))
		if err == nil && n != total {
			err = fmt.Errorf("short write %d", n)
		}
		done <- err
	}()
	// Let the kernel's buffers fill while nobody reads.
	maxOut := int64(s.Config().MaxOutput)
	if s.Config().Backend != BackendStd { // std writes block in the kernel: nothing is queued
		reviewDocsWait(2*time.Second, func() bool { return s.Stats().BufferedOut > 0 })
	}
	if bo := s.Stats().BufferedOut; bo > maxOut {
		t.Errorf("BufferedOut = %d above MaxOutput %d", bo, maxOut)
	}
	cl.SetReadDeadline(time.Now().Add(8 * time.Second))
	if _, err := io.CopyN(io.Discard, cl, total); err != nil {
		t.Fatalf("reading the %d B: %v", total, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.BytesOut != total || st.BufferedOut != 0 {
		t.Errorf("after %d B read by the peer: BytesOut=%d BufferedOut=%d", total, st.BytesOut, st.BufferedOut)
	}
	if s.Config().Backend != BackendStd && st.WriteEAGAIN == 0 {
		t.Errorf("WriteEAGAIN = 0 after a %d B write to a peer that did not read (WriteCalls=%d)", total, st.WriteCalls)
	}
}

// TestDocsUnsupportedNetwork checks errors.go:44-45:
// "ErrUnsupportedNetwork is returned for networks other than tcp, tcp4,
// tcp6 and unix", with errors.go:12-14 "errors about a connection are
// wrapped in *net.OpError". No other test checks it.
func TestDocsUnsupportedNetwork(t *testing.T) {
	if _, err := dialGroup(); err != nil { // process-wide, never stopped: not a leak
		t.Fatal(err)
	}
	testutil.CheckLeaks(t)
	s, err := NewServer(echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, network := range []string{"udp", "unixgram", "unixpacket", "ip4:icmp"} {
		calls := map[string]func() error{
			"Listen": func() error {
				ln, err := Listen(network, "127.0.0.1:0")
				if err == nil {
					ln.Close()
				}
				return err
			},
			"Server.Listen": func() error {
				ln, err := s.Listen(network, "127.0.0.1:0")
				if err == nil {
					ln.Close()
				}
				return err
			},
			"Dial": func() error {
				c, err := Dial(network, "127.0.0.1:9")
				if err == nil {
					c.Close()
				}
				return err
			},
			"Dialer{Server}": func() error {
				c, err := (&Dialer{Server: s}).DialContext(context.Background(), network, "127.0.0.1:9")
				if err == nil {
					c.Close()
				}
				return err
			},
		}
		for name, call := range calls {
			err := call()
			var oe *net.OpError
			if !errors.Is(err, ErrUnsupportedNetwork) || !errors.As(err, &oe) {
				t.Errorf("%s(%q): err = %v (%T), want a *net.OpError wrapping ErrUnsupportedNetwork", name, network, err, err)
			}
		}
	}
}

// TestDocsWithConfigStdWithSwitch checks WithConfig's contract:
// it sets fields, not switches, so with Backend BackendStd the poller
// switches in the Config are not applicable and ignored (Config shows
// them as n/a), where the With options for them are an error.
func TestDocsWithConfigStdWithSwitch(t *testing.T) {
	t.Setenv(EnvVar, "")
	for name, cfg := range map[string]Config{
		"Trigger: EdgeTriggered":   {Backend: BackendStd, Trigger: EdgeTriggered},
		"Dispatch: DispatchInline": {Backend: BackendStd, Dispatch: DispatchInline},
		"ReusePort: true":          {Backend: BackendStd, ReusePort: true},
	} {
		s, err := NewServer(echoHandler, WithConfig(cfg))
		if err != nil {
			t.Errorf("WithConfig(Config{Backend: BackendStd, %s}): %v", name, err)
			continue
		}
		got := s.Config()
		s.Close()
		if got.Trigger != 0 || got.Dispatch != 0 || got.ReusePort {
			t.Errorf("WithConfig(Config{Backend: BackendStd, %s}): running %s, want the switch n/a", name, got)
		}
	}
	if _, err := NewServer(echoHandler, WithBackend(BackendStd), WithTrigger(EdgeTriggered)); !errors.Is(err, ErrBadConfig) {
		t.Errorf("WithBackend(BackendStd), WithTrigger(EdgeTriggered): err = %v, want ErrBadConfig", err)
	}
}

// TestDocsOnDisconnectPeerClose checks OnDisconnect's err for the
// peer's orderly close once the handler has seen it: nil, as for a
// Close (options.go), not an error.
func TestDocsOnDisconnectPeerClose(t *testing.T) {
	testutil.CheckLeaks(t)
	disc := make(chan error, 1)
	_, addr := startServer(t, echoHandler, WithOnDisconnect(func(c *Conn, err error) { disc <- err }))
	cl := dialTCP(t, addr)
	cl.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := cl.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(cl, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	cl.Close() // the peer's orderly close (FIN)
	select {
	case err := <-disc:
		if err != nil {
			t.Fatalf("OnDisconnect err = %v after the peer's orderly close, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnDisconnect after the peer closed")
	}
}

// TestDocsReadTooLargeOtherCalls checks errors.go:36-38:
// "ErrReadTooLarge is returned by a Reader call that asks for more than
// 1 GiB at once ... Nothing is consumed." for the Reader calls that
// TestReadTooLarge (Next, Peek, ReadBinary) does not cover: Skip,
// ReadString and Slice.
func TestDocsReadTooLargeOtherCalls(t *testing.T) {
	testutil.CheckLeaks(t)
	c, cl := acceptPair(t)
	if _, err := cl.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	r := c.Reader()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.Peek(3); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Skip":       func() error { return r.Skip(maxBound + 1) },
		"ReadString": func() error { _, err := r.ReadString(maxBound + 1); return err },
		"Slice":      func() error { _, err := r.Slice(maxBound + 1); return err },
	}
	for name, call := range calls {
		start := time.Now()
		if err := call(); !errors.Is(err, ErrReadTooLarge) {
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

// TestDocsDialOptionsRereadEnv checks env.go:22-27: "NewServer,
// Listen and Dialer.DialContext (with Options) read the variable each
// time they are called ... a key it does not know ... makes the call fail
// with an *EnvError naming the key", and doc.go:49-51 for Dial with
// options. TestBackendConfig and TestEnvOverrideBadFailsStart check
// NewServer and Listen only.
func TestDocsDialOptionsRereadEnv(t *testing.T) {
	if _, err := dialGroup(); err != nil { // started with the process's UPOLL, once
		t.Fatal(err)
	}
	addr := goServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	d := Dialer{Timeout: 3 * time.Second, Options: []Option{WithWriteTimeout(time.Second)}}
	t.Setenv(EnvVar, "colour=blue")
	if c, err := d.DialContext(context.Background(), "tcp", addr); err == nil {
		c.Close()
		t.Fatal("Dialer with Options dialed under UPOLL=colour=blue")
	} else {
		var ee *EnvError
		if !errors.As(err, &ee) || ee.Key != "colour" {
			t.Fatalf("Dialer with Options under UPOLL=colour=blue: err = %v, want an *EnvError naming colour", err)
		}
	}
	// Read again on the next call: a good value applies to that dial.
	t.Setenv(EnvVar, "readtimeout=50ms")
	c, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("Read under UPOLL=readtimeout=50ms: %v after %v, want a timeout at about 50ms", err, time.Since(start))
	}
}
