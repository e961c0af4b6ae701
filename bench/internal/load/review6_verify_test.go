package load

import (
	"bufio"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDuplicatedHTTPResponsesFail: an HTTP server that answers a request
// twice (as one that parsed a request's bytes a second time would) fails
// verification. Every response is the same, so before, the duplicate
// answered the next request before the server had read it and the run
// was verified: answering every request twice, with ever more answers
// ahead of the requests, and many times the requests per second
// ("every"); answering the first request twice, its second answer in a
// write of its own during the warm-up, with the client one answer ahead
// of the server for the whole run ("first").
func TestDuplicatedHTTPResponsesFail(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!")
	for _, tc := range []struct {
		name  string
		twice func(req int) bool
		delay time.Duration // before the second answer, written apart
	}{
		{"every", func(int) bool { return true }, 0},
		{"first", func(req int) bool { return req == 0 }, 10 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer ln.Close()
			wg.Go(func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					wg.Go(func() {
						defer c.Close()
						br := bufio.NewReader(c)
						for req := range 10_000_000 {
							for { // one request: lines up to the empty one
								l, err := br.ReadString('\n')
								if err != nil {
									return
								}
								if l == "\r\n" {
									break
								}
							}
							if _, err := c.Write(resp); err != nil {
								return
							}
							if tc.twice(req) {
								time.Sleep(tc.delay)
								if _, err := c.Write(resp); err != nil {
									return
								}
							}
						}
					})
				}
			})
			var out strings.Builder
			cfg := Config{Workload: HTTP, Proto: HTTP, Addr: ln.Addr().String(), Conns: 2, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond}
			if err := Run(cfg, strings.NewReader(""), &out); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", out.String())
			if strings.Contains(out.String(), `"verified":true`) {
				t.Fatalf("a server that answers %s HTTP request twice was verified", tc.name)
			}
		})
	}
}

// TestHTTPWorkerPassesSingleAnswers: the check for answers sent twice
// does not fail a server that answers each request once.
func TestHTTPWorkerPassesSingleAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!")
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for range 10_000_000 {
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if l == "\r\n" {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			})
		}
	})
	var out strings.Builder
	cfg := Config{Workload: HTTP, Proto: HTTP, Addr: ln.Addr().String(), Conns: 4, Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond}
	if err := Run(cfg, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"verified":true`) {
		t.Fatalf("a server that answers each request once failed: %s", out.String())
	}
}

// TestStaleChurnEchoFails: a server that answers each new connection
// with the message of the connection before it (stale memory of a
// closed connection, the bug class of docs/RELIABILITY.md's stale pool
// bytes) fails the churn workload. Before, every cycle of a churn
// worker sent the same bytes (sequence 1 of the worker's id), so such
// an echo compared equal.
func TestStaleChurnEchoFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		var last []byte // the previous connection's message
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err == nil {
				if last == nil {
					last = buf
				}
				c.Write(last)
				last = buf
			}
			c.Close()
		}
	})
	var out strings.Builder
	cfg := Config{Workload: Churn, Proto: "echo", Addr: ln.Addr().String(), Conns: 1, Size: 64, Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond}
	if err := Run(cfg, strings.NewReader(""), &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", out.String())
	if strings.Contains(out.String(), `"verified":true`) {
		t.Fatal("a server that answers each connection with the previous connection's message was verified")
	}
}

// TestStaleTailFails: a server that answers each message with its first
// 16 bytes and, after them, the bytes of the connection's previous
// message (stale bytes of a reused buffer past a chunk boundary) fails
// verification. Before, only a message's first 16 bytes (its sequence
// and connection) changed from message to message: the rest was the
// connection's fixed pattern, and the stale tail compared equal.
func TestStaleTailFails(t *testing.T) {
	for _, tc := range []struct{ workload string }{{PingPong}, {Pipeline}} {
		t.Run(tc.workload, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer ln.Close()
			const size = 64
			wg.Go(func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					wg.Go(func() {
						defer c.Close()
						msg, prev := make([]byte, size), []byte(nil)
						for range 10_000_000 {
							if _, err := io.ReadFull(c, msg); err != nil {
								return
							}
							out := slices.Clone(msg)
							if prev != nil {
								copy(out[16:], prev[16:])
							}
							if _, err := c.Write(out); err != nil {
								return
							}
							prev = slices.Clone(msg)
						}
					})
				}
			})
			var out strings.Builder
			cfg := Config{Workload: tc.workload, Addr: ln.Addr().String(), Conns: 2, Size: size, Pipeline: 4,
				Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond}
			if err := Run(cfg, strings.NewReader(""), &out); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", out.String())
			if strings.Contains(out.String(), `"verified":true`) {
				t.Fatal("a server that echoes the previous message's bytes after the first 16 was verified")
			}
		})
	}
}
