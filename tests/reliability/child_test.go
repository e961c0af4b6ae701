package reliability

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/adapters/nethttp"
	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/gopool"
	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// Environment of a child process: the test binary re-executed as a
// server. childEnv names its role; the others configure it.
const (
	childEnv        = "RELTEST_CHILD"   // "echo" (netpoll handler) or "http" (http.Server on nethttp)
	childTriggerEnv = "RELTEST_TRIGGER" // netpoll.Trigger as an integer
	childNofileEnv  = "RELTEST_NOFILE"  // RLIMIT_NOFILE to set before serving
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(childMain(role))
	}
	// Lazily built process-wide state (the default pool) must exist
	// before any leak baseline is taken, and the buffer package must
	// count its nodes (off by default) before any buffer is used.
	gopool.Default()
	buffer.SetNodeAccounting(true)
	os.Exit(m.Run())
}

// childMain serves until its stdin closes. It prints "addr ADDR" once
// ready and answers each "stats" line with a "stats k=v ..." line.
func childMain(role string) int {
	if s := os.Getenv(childNofileEnv); s != "" {
		n, _ := strconv.ParseUint(s, 10, 64)
		if err := testutil.SetNofileLimit(n, n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	trig, _ := strconv.Atoi(os.Getenv(childTriggerEnv))
	opts := []netpoll.Option{netpoll.WithTrigger(netpoll.Trigger(trig))}
	var (
		addr  string
		stats func() string
		stop  func()
	)
	switch role {
	case "echo":
		ln, err := netpoll.Listen("tcp", "127.0.0.1:0", opts...)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		srv, err := netpoll.NewServer(echoHandler, opts...)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		go srv.Serve(ln)
		addr = ln.Addr().String()
		stats = func() string {
			st := srv.Stats()
			return fmt.Sprintf("live=%d total=%d backoffs=%d in=%d", st.LiveConns, st.TotalConns, st.AcceptBackoffs, st.BytesIn)
		}
		stop = func() { srv.Close() }
	case "http":
		ln, err := nethttp.Listen("tcp", "127.0.0.1:0", opts...)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		var mu sync.Mutex
		live, total := 0, 0
		srv := &http.Server{
			Handler:  http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
			ErrorLog: discardLog(),
			ConnState: func(_ net.Conn, s http.ConnState) {
				mu.Lock()
				defer mu.Unlock()
				switch s {
				case http.StateNew:
					live++
					total++
				case http.StateClosed, http.StateHijacked:
					live--
				}
			},
		}
		go srv.Serve(ln)
		addr = ln.Addr().String()
		stats = func() string {
			mu.Lock()
			defer mu.Unlock()
			return fmt.Sprintf("live=%d total=%d", live, total)
		}
		stop = func() { srv.Close() }
	default:
		fmt.Fprintln(os.Stderr, "unknown child role", role)
		return 2
	}
	fmt.Printf("addr %s\n", addr)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stats" {
			fds, err := testutil.CountFDs()
			if err != nil {
				fds = -1
			}
			fmt.Printf("stats %s fds=%d goroutines=%d\n", stats(), fds, runtime.NumGoroutine())
		}
	}
	stop()
	return 0
}

// child is a server running in a re-executed copy of the test binary.
type child struct {
	*testutil.Child
	addr string
}

// startChild runs the test binary as a server of the given role, with
// extra environment entries ("K=V").
func startChild(t testing.TB, role string, env ...string) *child {
	t.Helper()
	c := &child{Child: testutil.StartChild(t, "^$", append([]string{childEnv + "=" + role}, env...)...)}
	c.addr = c.Expect(t, "addr ", 60*time.Second)
	return c
}

// stats asks the child for its counters.
func (c *child) stats(t testing.TB) map[string]int64 {
	t.Helper()
	c.Send(t, "stats")
	line := c.Expect(t, "stats ", 10*time.Second)
	m := map[string]int64{}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		m[k] = n
	}
	return m
}

// waitStats polls the child until f accepts its stats or d passes, and
// returns the last stats.
func (c *child) waitStats(t testing.TB, d time.Duration, f func(map[string]int64) bool) (map[string]int64, bool) {
	t.Helper()
	var st map[string]int64
	ok := testutil.WaitFor(d, func() bool {
		st = c.stats(t)
		return f(st)
	})
	return st, ok
}

// echoHandler writes back whatever arrived.
func echoHandler(c *netpoll.Conn) error {
	r, w := c.Reader(), c.Writer()
	b, err := r.Next(r.Len())
	if err != nil {
		return err
	}
	if _, err := w.WriteBinary(b); err != nil {
		return err
	}
	if err := r.Release(); err != nil {
		return err
	}
	return w.Flush()
}
