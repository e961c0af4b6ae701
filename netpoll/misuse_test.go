package netpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// noPanic runs f and fails the test if it panics, if it returns no error
// when wantErr, or if it does not return within 2 s.
func noPanic(t *testing.T, name string, wantErr bool, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("PANIC: %v", p)
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		if err != nil && strings.HasPrefix(err.Error(), "PANIC") {
			t.Errorf("%s: %v", name, err)
		} else if wantErr && err == nil {
			t.Errorf("%s: no error", name)
		}
	case <-time.After(2 * time.Second):
		t.Errorf("%s: did not return in 2 s", name)
	}
}

// TestReviewZeroServer: a Server not made by NewServer must refuse
// to serve, shut down or close with an error, not panic (Serve divided by
// its zero pollers while holding s.mu, Shutdown and Close closed a nil
// channel), and a Dialer naming it must fail its dial.
func TestReviewZeroServer(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var s1, s2, s3, s4, s5 Server
	noPanic(t, "zero Server.Serve", true, func() error { return s1.Serve(ln) })
	noPanic(t, "zero Server.Shutdown", true, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return s2.Shutdown(ctx)
	})
	noPanic(t, "zero Server.Close", true, func() error { return s3.Close() })
	noPanic(t, "zero Server.Listen", true, func() error {
		l, err := s4.Listen("tcp", "127.0.0.1:0")
		if l != nil {
			l.Close()
		}
		return err
	})
	noPanic(t, "Dialer with a zero Server", true, func() error {
		d := Dialer{Server: &s5, Timeout: time.Second}
		c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
		if c != nil {
			c.Close()
		}
		return err
	})
}

// TestReviewServeNilListener: Serve(nil), Serve of a zero Listener and
// WrapListener(nil) are errors, not panics nor a Serve that never returns.
func TestReviewServeNilListener(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			s, err := NewServer(echoHandler, WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			noPanic(t, "Serve(nil)", true, func() error { return s.Serve(nil) })
			noPanic(t, "Serve(&Listener{})", true, func() error { return s.Serve(&Listener{}) })
			noPanic(t, "Server.WrapListener(nil)", true, func() error { _, err := s.WrapListener(nil); return err })
		})
	}
	noPanic(t, "WrapListener(nil)", true, func() error { _, err := WrapListener(nil); return err })
	var ln Listener
	noPanic(t, "zero Listener.Close", true, func() error { return ln.Close() })
}

// TestReviewZeroConn: every method of a zero Conn returns an error (or
// nothing), as the methods of Go's zero net.TCPConn do; none panics.
func TestReviewZeroConn(t *testing.T) {
	var c Conn
	r, w := c.Reader(), c.Writer()
	buf := make([]byte, 4)
	for name, f := range map[string]func() error{
		"Read":            func() error { _, err := c.Read(buf); return err },
		"Write":           func() error { _, err := c.Write(buf); return err },
		"Close":           c.Close,
		"CloseRead":       c.CloseRead,
		"CloseWrite":      c.CloseWrite,
		"SetDeadline":     func() error { return c.SetDeadline(time.Now()) },
		"SetReadTimeout":  func() error { return c.SetReadTimeout(time.Second) },
		"SetWriteTimeout": func() error { return c.SetWriteTimeout(time.Second) },
		"SetIdleTimeout":  func() error { return c.SetIdleTimeout(time.Second) },
		"SetNoDelay":      func() error { return c.SetNoDelay(true) },
		"SetLinger":       func() error { return c.SetLinger(0) },
		"SetKeepAlive":    func() error { return c.SetKeepAlive(true) },
		"SetReadBuffer":   func() error { return c.SetReadBuffer(4096) },
		"SyscallConn": func() error {
			rc, err := c.SyscallConn()
			if err == nil {
				err = rc.Control(func(uintptr) {})
			}
			return err
		},
		"ReadFrom":           func() error { _, err := c.ReadFrom(strings.NewReader("x")); return err },
		"WriteTo":            func() error { _, err := c.WriteTo(io.Discard); return err },
		"Reader.Next":        func() error { _, err := r.Next(1); return err },
		"Reader.Until":       func() error { _, err := r.Until('\n'); return err },
		"Writer.WriteString": func() error { _, err := w.WriteString("x"); return err },
		"Writer.Flush":       w.Flush,
		"Writer.FlushAsync":  w.FlushAsync,
	} {
		noPanic(t, "zero Conn."+name, true, f)
	}
	noPanic(t, "zero Conn getters", false, func() error {
		_, _, _, _, _ = c.LocalAddr(), c.RemoteAddr(), c.Network(), c.IsActive(), c.Context()
		return nil
	})
}

// TestReviewWithConfigIgnoresUPOLL: WithConfig "replaces the whole
// configuration, UPOLL's values included: under it, UPOLL changes
// nothing", and under BackendStd cfg's poller switches "are not
// applicable and ignored". UPOLL's switches still counted: with
// UPOLL=pollers=3, WithConfig(Config{Backend: BackendStd}) failed as if
// UPOLL had asked for std with pollers; and UPOLL=trigger=level chose
// the trigger of a WithConfig uring server.
func TestReviewWithConfigIgnoresUPOLL(t *testing.T) {
	t.Setenv(EnvVar, "pollers=3")
	s, err := NewServer(echoHandler, WithConfig(Config{Backend: BackendStd}))
	if err != nil {
		t.Fatalf("UPOLL=pollers=3, WithConfig(std): %v", err)
	}
	s.Close()
}

func TestReviewWithConfigIgnoresUPOLLUring(t *testing.T) {
	if !haveUring() {
		t.Skip("no io_uring")
	}
	t.Setenv(EnvVar, "trigger=level")
	want, err := NewServer(echoHandler, WithConfig(Config{Backend: BackendUring}))
	if err != nil {
		t.Fatal(err)
	}
	want.Close()
	t.Setenv(EnvVar, "")
	got, err := NewServer(echoHandler, WithConfig(Config{Backend: BackendUring}))
	if err != nil {
		t.Fatal(err)
	}
	got.Close()
	if want.Config().Trigger != got.Config().Trigger {
		t.Fatalf("WithConfig(uring): trigger %v under UPOLL=trigger=level, %v without UPOLL", want.Config().Trigger, got.Config().Trigger)
	}
}

// TestReviewWithConfigOfServerToStd: a Server's Config carries which
// With options made it; given to WithConfig with Backend changed to
// BackendStd, it failed as "backend std with pollers in the same
// options" though the caller gave WithConfig alone.
func TestReviewWithConfigOfServerToStd(t *testing.T) {
	t.Setenv(EnvVar, "")
	s1, err := NewServer(echoHandler, WithBackend(BackendEpoll), WithPollers(2))
	if err != nil {
		t.Fatal(err)
	}
	cfg := s1.Config()
	s1.Close()
	cfg.Backend = BackendStd
	s2, err := NewServer(echoHandler, WithConfig(cfg))
	if err != nil {
		t.Fatalf("WithConfig(a server's Config with Backend std): %v", err)
	}
	defer s2.Close()
	if got := s2.Config(); got.Backend != BackendStd || got.Pollers != 1 {
		t.Fatalf("Config %s", got)
	}
}

// TestReviewWithConfigRoundTripUring: the fix above keeps
// WithConfig(s.Config()) of a level-triggered uring server level.
func TestReviewWithConfigRoundTripUring(t *testing.T) {
	if !haveUring() {
		t.Skip("no io_uring")
	}
	t.Setenv(EnvVar, "")
	s1, err := NewServer(echoHandler, WithBackend(BackendUring), WithTrigger(LevelTriggered))
	if err != nil {
		t.Fatal(err)
	}
	s1.Close()
	s2, err := NewServer(echoHandler, WithConfig(s1.Config()))
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if s2.Config().Trigger != LevelTriggered {
		t.Fatalf("round trip: %s", s2.Config())
	}
}

// TestReviewPollersBounded: UPOLL refuses more than 65536 pollers "so
// that a typo cannot ask for a million epoll instances"; WithPollers had
// no bound: WithPollers(1<<20) opened epoll instances until the process
// ran out of descriptors (any other open meanwhile failing with EMFILE)
// and failed with "epoll_create1: too many open files", which names no
// option. It must be an ErrBadConfig naming Pollers, opening nothing.
func TestReviewPollersBounded(t *testing.T) {
	t.Setenv(EnvVar, "")
	for _, b := range testBackends(false) {
		start := time.Now()
		s, err := NewServer(echoHandler, WithBackend(b), WithPollers(1<<20))
		if err == nil {
			s.Close()
			t.Fatalf("%v: WithPollers(1<<20) accepted", b)
		}
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "Pollers") {
			t.Errorf("%v: WithPollers(1<<20): %v (after %v); want an ErrBadConfig naming Pollers", b, err, time.Since(start))
		}
	}
}

// TestReviewEnvEmptyKeyNamesEntry: an UPOLL entry with nothing before
// its '=' was reported as `entry "5": unknown key`, naming the value as
// if it were the whole entry; the message must quote the entry as
// written.
func TestReviewEnvEmptyKeyNamesEntry(t *testing.T) {
	for _, in := range []string{"=5", "trigger=et, =edge", " = "} {
		_, err := ParseEnv(in)
		var ee *EnvError
		if !errors.As(err, &ee) {
			t.Fatalf("ParseEnv(%q) = %v; want an *EnvError", in, err)
		}
		entry := strings.TrimSpace(in[strings.LastIndexByte(in, ',')+1:])
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", entry)) {
			t.Errorf("ParseEnv(%q): %q does not quote the entry %q", in, err, entry)
		}
	}
}

// TestReviewNegativeConnTimeout: WithReadTimeout(-1s) is an ErrBadConfig,
// but Conn.SetReadTimeout(-1s) (and the write and idle ones) returned nil
// and meant no timeout at all: a Read with nothing to read then waited
// for ever. A negative timeout must be refused.
func TestReviewNegativeConnTimeout(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			sc, _ := acceptPair(t, WithBackend(b))
			for name, set := range map[string]func(time.Duration) error{
				"SetWriteTimeout": sc.SetWriteTimeout, "SetIdleTimeout": sc.SetIdleTimeout,
			} {
				if err := set(-time.Second); !errors.Is(err, ErrBadConfig) {
					t.Errorf("%s(-1s) = %v; want an error wrapping ErrBadConfig", name, err)
				}
			}
			err := sc.SetReadTimeout(-time.Second)
			if errors.Is(err, ErrBadConfig) {
				return
			}
			done := make(chan error, 1)
			go func() { _, err := sc.Read(make([]byte, 1)); done <- err }()
			select {
			case err := <-done:
				t.Errorf("SetReadTimeout(-1s) = %v, then Read = %v; want an ErrBadConfig", err, err)
			case <-time.After(300 * time.Millisecond):
				t.Errorf("SetReadTimeout(-1s) = %v, then Read still waiting after 300 ms: no timeout at all", err)
				sc.Close()
				<-done
			}
		})
	}
}

// TestReviewDialerIgnoredOptions: Dialer's doc says that among its
// Options "poller-level options (WithPollers, WithWait, WithSpin,
// WithBalance, WithReusePort), WithDispatch and WithBufferBudget are
// ignored"; yet WithBufferBudget(1) failed every dial ("BufferBudget 1
// is below one connection's MaxInput+MaxOutput"). An ignored option must
// not fail the dial; a bad per-connection option still must.
func TestReviewDialerIgnoredOptions(t *testing.T) {
	t.Setenv(EnvVar, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	for name, opts := range map[string][]Option{
		"WithBufferBudget(1)": {WithBufferBudget(1)},
		"WithMaxInput(1g), WithMaxOutput(1g), WithBufferBudget(1m)": {WithMaxInput(1 << 30), WithMaxOutput(1 << 30), WithBufferBudget(1 << 20)},
	} {
		d := Dialer{Options: opts, Timeout: 2 * time.Second}
		c, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		c.Close()
	}
	d := Dialer{Options: []Option{WithMaxInput(-1)}, Timeout: 2 * time.Second}
	if c, err := d.DialContext(context.Background(), "tcp", l.Addr().String()); !errors.Is(err, ErrBadConfig) {
		t.Errorf("WithMaxInput(-1): %v; want ErrBadConfig", err)
		if c != nil {
			c.Close()
		}
	}
}
