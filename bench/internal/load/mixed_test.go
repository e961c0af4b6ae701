package load

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// childEnv marks a helper process re-executed from this test binary, as
// the harness marks its children.
const childEnv = "UPOLL_BENCH_CHILD"

// TestMain lets the test binary stand in for the harness when the mixed
// workload re-executes it as a helper ("-role load -workload idle ...").
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helperMain parses the load role's flags that helpers are given.
func helperMain(args []string) int {
	fs := flag.NewFlagSet("helper", flag.ContinueOnError)
	var cfg Config
	fs.String("role", "", "")
	fs.StringVar(&cfg.Workload, "workload", "", "")
	fs.StringVar(&cfg.Proto, "proto", "echo", "")
	fs.StringVar(&cfg.Addr, "addr", "", "")
	fs.IntVar(&cfg.Conns, "n", 1, "")
	fs.IntVar(&cfg.Size, "msg", 64, "")
	fs.IntVar(&cfg.FirstID, "first-id", 0, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := Run(cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stdout, "ERROR %v\n", err)
		return 1
	}
	return 0
}

// countingEcho is an echo server that tracks how many connections it
// holds at once.
type countingEcho struct {
	ln        net.Listener
	open, max atomic.Int64
	wg        sync.WaitGroup
}

func newCountingEcho(t *testing.T) *countingEcho {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &countingEcho{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := s.open.Add(1)
			for m := s.max.Load(); n > m && !s.max.CompareAndSwap(m, n); m = s.max.Load() {
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				io.Copy(c, c)
				c.Close()
				s.open.Add(-1)
			}()
		}
	}()
	return s
}

// TestMixedHoldsIdleBesideActive: the helpers hold every idle connection
// through the window, split over processes of at most HoldPerProcess
// each, and close them at the end; the active ones are measured.
func TestMixedHoldsIdleBesideActive(t *testing.T) {
	t.Setenv(childEnv, "1")
	srv := newCountingEcho(t)
	defer func() {
		srv.ln.Close()
		srv.wg.Wait()
	}()
	cfg := Config{Workload: Mixed, Addr: srv.ln.Addr().String(), Conns: 5, Idle: 300, HoldPerProcess: 120,
		Size: 64, Duration: 200 * time.Millisecond, Proto: "echo"}
	var out strings.Builder
	if err := Run(cfg, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(out.String()), "RESULT ")), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.Ops == 0 || res.Idle != 300 || res.Conns != 5 {
		t.Fatalf("result %+v", res)
	}
	if m := srv.max.Load(); m < 305 {
		t.Fatalf("the server held at most %d connections at once, want 305", m)
	}
	// The helpers closed theirs (bounded wait: closes arrive promptly).
	for i := 0; i < 500 && srv.open.Load() > 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.open.Load(); n != 0 {
		t.Fatalf("%d connections still open after the run", n)
	}
}

// TestMixedHelperFailure: a helper that cannot connect fails the run with
// its reason, without hanging.
func TestMixedHelperFailure(t *testing.T) {
	t.Setenv(childEnv, "1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := Config{Workload: Mixed, Addr: addr, Conns: 1, Idle: 10, Size: 64, Duration: 100 * time.Millisecond, Proto: "echo"}
	start := time.Now()
	err = Run(cfg, strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "helper") {
		t.Fatalf("run against a closed port: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("failure took %v", d)
	}
}
