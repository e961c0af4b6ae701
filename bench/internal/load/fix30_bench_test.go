package load

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/bench/internal/rpcload"
	"github.com/upoll/upoll/netpoll"
)

// fix30Echo serves ping-pong echo on 127.0.0.1, counting the messages
// it echoes: what a server's own counters count.
type fix30Echo struct {
	ln      net.Listener
	size    int
	echoed  atomic.Uint64
	wg      sync.WaitGroup
	mu      sync.Mutex
	clients []net.Conn
}

func startFix30Echo(t *testing.T, size int) *fix30Echo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fix30Echo{ln: ln, size: size}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.clients = append(s.clients, c)
			s.mu.Unlock()
			s.wg.Go(func() {
				defer c.Close()
				buf := make([]byte, size)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
					s.echoed.Add(1)
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.clients {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// counterReading is the parent's reading of the server's counters at a
// MARK: a count and when it was taken.
type counterReading struct {
	at    time.Time
	count uint64
}

// runMarked runs cfg with Mark, reading srv's count at each MARK as the
// parent does, after delay[i] (the parent's own time to answer), and
// returns the result and both readings.
func runMarked(t *testing.T, cfg Config, srv *fix30Echo, delay [2]time.Duration) (Result, [2]counterReading) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var (
		ctr    [2]counterReading
		marks  int
		result string
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		defer inW.Close()
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if rest, ok := strings.CutPrefix(l, "RESULT "); ok {
				result = rest
				continue
			}
			if !strings.HasPrefix(l, "MARK ") || marks >= 2 {
				continue
			}
			time.Sleep(delay[marks])
			ctr[marks] = counterReading{at: time.Now(), count: srv.echoed.Load()}
			marks++
			io.WriteString(inW, "go\n")
		}
		io.Copy(io.Discard, outR)
	}()
	err := Run(cfg, inR, outW)
	outW.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the parent's reader did not finish")
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if marks != 2 {
		t.Fatalf("%d MARK lines, want 2", marks)
	}
	var res Result
	if err := json.Unmarshal([]byte(result), &res); err != nil {
		t.Fatalf("RESULT %q: %v", result, err)
	}
	return res, ctr
}

// The server's counters are read at the window's ends, a little outside
// it; runOne takes their rate over their own interval, times the window,
// per operation. That is right only if the load ran on through the
// interval: a parent slow to read the counters at the end (300 ms here,
// as long as the window) must not change the count per operation, which
// here is one echoed message per ping-pong exchange.
func TestFix30CountersIntervalKeepsTheLoad(t *testing.T) {
	const size = 64
	srv := startFix30Echo(t, size)
	cfg := Config{Workload: PingPong, Addr: srv.ln.Addr().String(), Conns: 4, Size: size,
		Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond, Mark: true}
	res, ctr := runMarked(t, cfg, srv, [2]time.Duration{0, 300 * time.Millisecond})
	if !res.Verified || res.Ops == 0 || res.WindowSec <= 0 {
		t.Fatalf("run not verified: %+v", res)
	}
	interval := ctr[1].at.Sub(ctr[0].at).Seconds()
	perOp := float64(ctr[1].count-ctr[0].count) / interval * res.WindowSec / float64(res.Ops)
	t.Logf("%d ops in %.3f s; %d echoes counted over %.3f s: %.2f per op",
		res.Ops, res.WindowSec, ctr[1].count-ctr[0].count, interval, perOp)
	if perOp < 0.8 || perOp > 1.25 {
		t.Fatalf("server count per op %.2f, want about 1: the counters' interval (%.3f s) did not carry the window's load (%.3f s)",
			perOp, interval, res.WindowSec)
	}
}

// The rpc load's upoll client keeps its own configuration when UPOLL
// switches the server's backend, and the result says which it used.
func TestFix30RPCResultNamesClientConfig(t *testing.T) {
	t.Setenv(netpoll.EnvVar, "backend=std")
	srv, err := rpcload.Start("upoll", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Poll.Close()
	if b := srv.Poll.Config().Backend; b != netpoll.BackendStd {
		t.Fatalf("setup: the server under test runs on %v, want std (from %s)", b, netpoll.EnvVar)
	}
	cfg := Config{Workload: RPC, Addr: srv.Addr.String(), Conns: 2, Inflight: 2, Size: 32, Client: "upoll",
		Warmup: 50 * time.Millisecond, Duration: 100 * time.Millisecond}
	var out strings.Builder
	if err := Run(cfg, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(out.String()), "RESULT ")), &res); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if !res.Verified {
		t.Fatalf("run not verified: %+v", res)
	}
	if want := "upoll " + netpoll.DefaultConfig().String(); res.Client != want {
		t.Fatalf("result's client %q, want %q", res.Client, want)
	}
}
