package nethttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// revStack is one implementation under review: Go's own net, or upoll's
// adapter on one backend.
type revStack struct {
	name       string
	listen     func() (net.Listener, error)
	listenAddr func(addr string) (net.Listener, error)
	// dial dials with the stack's Dialer.
	dial func(ctx context.Context, addr string) (net.Conn, error)
	// park: http.Server tests call EnableParking (revServe).
	park bool
}

func revStacks() []revStack {
	up := func(b netpoll.Backend) revStack {
		s := revStack{
			name:   b.String(),
			listen: func() (net.Listener, error) { return Listen("tcp", "127.0.0.1:0", netpoll.WithBackend(b)) },
			listenAddr: func(addr string) (net.Listener, error) {
				return Listen("tcp", addr, netpoll.WithBackend(b))
			},
		}
		d := &Dialer{Options: []netpoll.Option{netpoll.WithBackend(b)}}
		s.dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
		return s
	}
	all := []revStack{
		{
			name:       "go",
			listen:     func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") },
			listenAddr: func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) },
			dial: func(ctx context.Context, addr string) (net.Conn, error) {
				return new(net.Dialer).DialContext(ctx, "tcp", addr)
			},
		},
		up(netpoll.BackendEpoll),
		up(netpoll.BackendStd),
		up(netpoll.BackendUring),
	}
	if envBackendName() != "" {
		// Under a UPOLL that names a backend (the second and third
		// passes of scripts/test.sh), Go's stack only: every upoll stack
		// names its backend itself, so the pass without UPOLL has run
		// them all, the named one included, and this one would only run
		// them again. revCompareOn skips a comparison with nothing to
		// compare.
		return all[:1]
	}
	return all
}

// envBackendName returns the backend that UPOLL names ("epoll", "std",
// "uring"), or "" if it names none or one this file does not know.
func envBackendName() string {
	for _, kv := range strings.Split(os.Getenv(netpoll.EnvVar), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, "backend") {
			for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
				if strings.EqualFold(v, b.String()) {
					return b.String()
				}
			}
		}
	}
	return ""
}

// revPair returns an accepted conn of st's listener and a Go peer dialed
// to it. Everything is closed when t ends.
func revPair(t testing.TB, st revStack) (srv, peer net.Conn) {
	t.Helper()
	ln, err := st.listen()
	if err != nil {
		t.Fatalf("%s: listen: %v", st.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return revAccept(t, ln)
}

// revAccept dials ln with Go's net and accepts the other end.
func revAccept(t testing.TB, ln net.Listener) (srv, peer net.Conn) {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	peer, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { peer.Close() })
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("accept: %v", r.err)
		}
		srv = r.c
	case <-time.After(5 * time.Second):
		t.Fatal("accept: no connection within 5s")
	}
	t.Cleanup(func() { srv.Close() })
	return srv, peer
}

// revDialPair returns a conn dialed with st's Dialer to a Go listener,
// and the Go conn accepted there.
func revDialPair(t testing.TB, st revStack) (dialed, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dialed, err = st.dial(ctx, ln.Addr().String())
	if err != nil {
		t.Fatalf("%s: dial: %v", st.name, err)
	}
	t.Cleanup(func() { dialed.Close() })
	select {
	case peer = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no accept within 5s")
	}
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { peer.Close() })
	return dialed, peer
}

// errDesc classifies err the way callers of a net.Conn look at it.
func errDesc(err error) string {
	if err == nil {
		return "nil"
	}
	if err == io.EOF {
		return "EOF"
	}
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	s := fmt.Sprintf("timeout=%v closed=%v deadline=%v eof=%v reset=%v pipe=%v",
		timeout,
		errors.Is(err, net.ErrClosed),
		errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE))
	var oe *net.OpError
	if errors.As(err, &oe) {
		s += " op=" + oe.Op
	} else {
		s += " notOpError(" + err.Error() + ")"
	}
	return s
}

// revCompare runs scenario on every stack and reports where a stack's
// observations differ from Go's.
func revCompare(t *testing.T, scenario func(t *testing.T, st revStack) []string) {
	t.Helper()
	revCompareOn(t, revStacks(), scenario)
}

func revCompareOn(t *testing.T, stacks []revStack, scenario func(t *testing.T, st revStack) []string) {
	t.Helper()
	if len(stacks) < 2 {
		t.Skip("no upoll stack to compare with Go's: UPOLL names a backend, and the pass without UPOLL ran every stack")
	}
	var want []string
	for i, st := range stacks {
		got := scenario(t, st)
		if i == 0 {
			want = got
			continue
		}
		if got == nil {
			continue // not applicable
		}
		if testing.Verbose() && i == 1 {
			t.Logf("go: %q", want)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s differs from Go's net:\n  go:   %q\n  %s: %q", st.name, want, st.name, got)
		}
	}
}

// within classifies a duration against bounds, coarse enough for a busy
// machine.
func within(d, lo, hi time.Duration) string {
	switch {
	case d < lo:
		return fmt.Sprintf("early(<%v)", lo)
	case d > hi:
		return fmt.Sprintf("late(>%v)", hi)
	}
	return "ontime"
}

func asOp(err error, oe **net.OpError) bool { return errors.As(err, oe) }

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }

// revHTTPStacks are revStacks and, for the http.Server tests, each
// upoll backend with EnableParking.
func revHTTPStacks() []revStack {
	sts := revStacks()
	for _, st := range revStacks()[1:] {
		st.name += "+park"
		st.park = true
		sts = append(sts, st)
	}
	return sts
}
