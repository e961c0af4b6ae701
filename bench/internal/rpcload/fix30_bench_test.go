package rpcload

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// countingClient answers every call after a short latency and counts
// the calls answered: what the server's own counters count.
type countingClient struct{ answered atomic.Uint64 }

func (c *countingClient) Call(_ int, arg []byte) ([]byte, error) {
	time.Sleep(time.Millisecond)
	c.answered.Add(1)
	return append([]byte(nil), arg...), nil
}
func (c *countingClient) Close() error { return nil }

// The parent reads the server's counters at mark(0) and, taking its
// time, at mark(1), and takes their rate over its own interval times
// the window: the calls must go on until mark(1) has read them, or a
// slow reading (300 ms here, as long as the window) halves the count
// per call.
func TestFix30CallsGoOnThroughTheLastMark(t *testing.T) {
	cl := &countingClient{}
	var (
		at    [2]time.Time
		count [2]uint64
	)
	mark := func(i int) {
		if i == 1 {
			time.Sleep(300 * time.Millisecond)
		}
		at[i], count[i] = time.Now(), cl.answered.Load()
	}
	const window = 300 * time.Millisecond
	tal, err := Run(cl, Load{Conns: 4, Inflight: 2, Size: 16, Warmup: 50 * time.Millisecond, Window: window}, mark)
	if err != nil {
		t.Fatal(err)
	}
	interval := at[1].Sub(at[0]).Seconds()
	perCall := float64(count[1]-count[0]) / interval * window.Seconds() / float64(tal.Calls)
	t.Logf("%d calls in the window; %d answered over %.3f s between the marks: %.2f per call", tal.Calls, count[1]-count[0], interval, perCall)
	if perCall < 0.8 || perCall > 1.25 {
		t.Fatalf("answers per call %.2f, want about 1: the calls stopped before the last mark's reading", perCall)
	}
}

// losingServer answers rpcload requests on 127.0.0.1 but never answers
// the request it reads as its lose-th (counted over all connections).
type losingServer struct {
	ln    net.Listener
	lose  int64
	seen  atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startLosingServer(t *testing.T, lose int64) *losingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &losingServer{ln: ln, lose: lose}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *losingServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	var head [hdrLen]byte
	for {
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[:])
		req := make([]byte, hdrLen+int(n))
		copy(req, head[:])
		if _, err := io.ReadFull(br, req[hdrLen:]); err != nil {
			return
		}
		if _, err := checkRequest(n, req[hdrLen:]); err != nil {
			return
		}
		if s.seen.Add(1) == s.lose {
			continue
		}
		out := make([]byte, len(req)-2)
		putResponse(out, req)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// close closes the listener and every connection, which frees a caller
// still waiting on one, and waits for the server's goroutines.
func (s *losingServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// A call the server lost leaves its caller waiting for ever; Run must
// not wait for it past a short grace after the window (the parent gives
// a run 60 s more), and must count it as an error, which fails the run.
func TestFix30LostCallEndsTheRunAsFailed(t *testing.T) {
	for _, impl := range []string{"std", "upoll"} {
		t.Run(impl, func(t *testing.T) {
			srv := startLosingServer(t, 20)
			defer srv.close()
			cl, err := Dial(impl, srv.ln.Addr().String(), 2)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			type outcome struct {
				tal Tally
				err error
			}
			done := make(chan outcome, 1)
			start := time.Now()
			go func() {
				tal, err := Run(cl, Load{Conns: 2, Inflight: 2, Size: 16, Warmup: 50 * time.Millisecond, Window: 200 * time.Millisecond}, func(int) {})
				done <- outcome{tal, err}
			}()
			var o outcome
			select {
			case o = <-done:
			case <-time.After(10 * time.Second):
				srv.close() // frees the lost call's caller, so that Run returns
				<-done
				t.Fatalf("Run still waiting for the lost call %v after the window", time.Since(start))
			}
			t.Logf("Run returned after %v: %d calls, %d errors, first: %s", time.Since(start).Round(time.Millisecond), o.tal.Calls, o.tal.Errors, o.tal.FirstError)
			if o.tal.Errors == 0 || !strings.Contains(o.tal.FirstError, "unanswered") {
				t.Fatalf("the lost call was not counted as an error: %d errors, first %q", o.tal.Errors, o.tal.FirstError)
			}
		})
	}
}

// UPOLL is the server's experiment switch, and the harness's children
// share one environment: the upoll client must keep its own fixed
// configuration whatever UPOLL says, and say which it ran on.
func TestFix30UpollClientIgnoresUPOLL(t *testing.T) {
	t.Setenv(netpoll.EnvVar, "backend=std")
	srv := startLosingServer(t, 0)
	defer srv.close()
	cl, err := Dial("upoll", srv.ln.Addr().String(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got, want := cl.(*upollClient).group.Config(), netpoll.DefaultConfig()
	if got.Backend != want.Backend || got.Pollers != want.Pollers {
		t.Fatalf("with %s=backend=std the client runs on %v, want its own configuration %v", netpoll.EnvVar, got, want)
	}
	if desc := fmt.Sprint(cl); !strings.Contains(desc, want.String()) {
		t.Errorf("the client describes itself as %q, want its configuration %q in it", desc, want.String())
	}
	arg := []byte("fix30 call")
	if ans, err := cl.Call(0, arg); err != nil || string(ans) != string(arg) {
		t.Fatalf("Call = %q, %v; want %q", ans, err, arg)
	}
}
