package nethttp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// stack is one way of making sockets: the standard library's or upoll's.
// The conformance tests run against every stack, so a test that passes on
// "std" and fails on "upoll" points at the adapter, not at the test.
type stack struct {
	name   string
	listen func(network, addr string) (net.Listener, error)
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	park   bool // http.Server tests: EnableParking (see parkStack)
}

// listenTB listens on a loopback port and closes the listener when t ends.
func (s stack) listenTB(t testing.TB) net.Listener {
	t.Helper()
	ln, err := s.listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%s: listen: %v", s.name, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dialTB dials addr with a bounded timeout; the conn gets a generous
// deadline so that no test can block on it forever.
func (s stack) dialTB(t testing.TB, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := s.dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", s.name, addr, err)
	}
	c.SetDeadline(time.Now().Add(testDeadline))
	t.Cleanup(func() { c.Close() })
	return c
}

// testDeadline bounds every blocking call a test makes on a socket.
const testDeadline = 30 * time.Second

// forEachStack runs f as a parallel subtest per stack.
func forEachStack(t *testing.T, f func(t *testing.T, st stack)) {
	for _, st := range stacks() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			f(t, st)
		})
	}
}

// connPair returns both ends of a TCP connection: server accepted from a
// listener of ls, client dialed with ds.
func connPair(t testing.TB, ln net.Listener, ds stack) (server, client net.Conn) {
	t.Helper()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		ch <- result{c, err}
	}()
	client = ds.dialTB(t, ln.Addr().String())
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("accept: %v", r.err)
		}
		server = r.c
	case <-time.After(10 * time.Second):
		t.Fatal("accept did not return within 10s")
	}
	server.SetDeadline(time.Now().Add(testDeadline))
	t.Cleanup(func() { server.Close() })
	return server, client
}

// pattern is a deterministic pseudo-random byte stream with a period that is
// not a power of two, so a chunk delivered at the wrong offset is caught.
const patternPeriod = 1<<20 + 7

var patternBlock = sync.OnceValue(func() []byte {
	b := make([]byte, 2*patternPeriod)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range patternPeriod {
		b[i] = byte(r.Uint32())
	}
	copy(b[patternPeriod:], b[:patternPeriod])
	return b
})

// patternReader yields the first n bytes of the pattern.
type patternReader struct{ off, n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off, patternPeriod)]
	start := r.off % patternPeriod
	n := copy(p, patternBlock()[start:start+int64(len(p))])
	r.off += int64(n)
	return n, nil
}

// patternChecker verifies that what is written to it is the pattern.
type patternChecker struct{ off int64 }

func (w *patternChecker) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), patternPeriod)
		start := w.off % patternPeriod
		if !bytes.Equal(p[:k], patternBlock()[start:start+int64(k)]) {
			for i := range k {
				if p[i] != patternBlock()[start+int64(i)] {
					return n + i, fmt.Errorf("pattern mismatch at offset %d", w.off+int64(i))
				}
			}
		}
		w.off += int64(k)
		n += k
		p = p[k:]
	}
	return n, nil
}

// lockedBuffer collects a server's ErrorLog output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// skipStdBackend skips a test of what only a poller backend offers when
// UPOLL makes BackendStd the default (the suites run a second time so).
func skipStdBackend(t testing.TB, why string) {
	t.Helper()
	opts, _ := netpoll.ParseEnv(os.Getenv(netpoll.EnvVar))
	var c netpoll.Config
	for _, o := range opts {
		o(&c)
	}
	if c.Backend == netpoll.BackendStd {
		t.Skipf("backend std: %s", why)
	}
}
