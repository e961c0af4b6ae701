package load

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMixedSwappedIdleEchoesFail: a server that writes the first echo of
// each of two connections to the other fails the mixed workload when
// the two are idle connections of two helpers. Before, every helper
// numbered its connections from 0, as the active ones are numbered: the
// two helpers' connections (one each) sent the same message, and the
// swap passed.
func TestMixedSwappedIdleEchoesFail(t *testing.T) {
	t.Setenv(childEnv, "1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		// The first two connections are the helpers' (they are opened
		// before the active ones are dialled): their first messages are
		// swapped; every connection is then a plain echo.
		var pair []net.Conn
		var first [][]byte
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range pair {
					c.Close()
				}
				return
			}
			if len(first) < 2 {
				buf := make([]byte, 64)
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.ReadFull(c, buf); err != nil {
					c.Close()
					continue
				}
				c.SetReadDeadline(time.Time{})
				pair, first = append(pair, c), append(first, buf)
				if len(first) < 2 {
					continue
				}
				pair[0].Write(first[1])
				pair[1].Write(first[0])
				for _, p := range pair {
					wg.Go(func() { io.Copy(p, p); p.Close() })
				}
				pair = nil
				continue
			}
			wg.Go(func() { io.Copy(c, c); c.Close() })
		}
	})
	cfg := Config{Workload: Mixed, Addr: ln.Addr().String(), Conns: 1, Idle: 2, HoldPerProcess: 1,
		Size: 64, Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond, Proto: "echo"}
	var out strings.Builder
	err = Run(cfg, strings.NewReader(""), &out)
	t.Logf("err %v, out %s", err, out.String())
	if err == nil && strings.Contains(out.String(), `"verified":true`) {
		t.Fatal("a server that swapped two idle connections' echoes was verified")
	}
}
