package reliability

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestConnectionBurst opens 10,000 connections (2,000 with -short) to a
// netpoll echo server in a child process (3,000 and 1,000 to http.Server
// on the adapter, whose goroutine per connection is slow under -race), holds them until the server has registered
// every one, then drops them all at once, half with FIN and half with
// RST. The server must end up holding no connection and no more
// descriptors than before the burst, and still serve. The server runs
// in a child so that its descriptors and the clients' count against
// separate limits.
func TestConnectionBurst(t *testing.T) {
	for _, role := range []string{"echo", "http"} {
		t.Run(role, func(t *testing.T) {
			total := map[bool]map[string]int{
				false: {"echo": 10000, "http": 3000},
				true:  {"echo": 2000, "http": 1000},
			}[testing.Short()][role]
			checkLeaks(t)
			ch := startChild(t, role)
			base := ch.stats(t)
			start := time.Now()
			conns := make([]*net.TCPConn, total)
			var failed atomic.Int32
			var wg sync.WaitGroup
			next := atomic.Int32{}
			for range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= total {
							return
						}
						c, err := net.DialTimeout("tcp", ch.addr, 20*time.Second)
						if err != nil {
							if failed.Add(1) <= 3 {
								t.Errorf("dial %d: %v", i, err)
							}
							continue
						}
						conns[i] = c.(*net.TCPConn)
					}
				}()
			}
			testutil.WaitGroup(t, &wg, 2*time.Minute, "the dialers")
			if failed.Load() > 0 {
				t.Fatalf("%d of %d dials failed", failed.Load(), total)
			}
			opened := time.Since(start)
			st, ok := ch.waitStats(t, 60*time.Second, func(m map[string]int64) bool {
				return m["live"] == int64(total)
			})
			if !ok {
				t.Fatalf("child registered %d of %d conns: %v", st["live"], total, st)
			}
			held := ch.stats(t) // fds were read before live: look again
			start = time.Now()
			for i, c := range conns {
				if i%2 == 0 {
					resetClose(c)
				} else {
					c.Close()
				}
			}
			st, ok = ch.waitStats(t, 60*time.Second, func(m map[string]int64) bool {
				return m["live"] == 0 && m["fds"] <= base["fds"]
			})
			if !ok {
				t.Fatalf("after dropping %d conns the child holds %d conns and %d fds (%d before)",
					total, st["live"], st["fds"], base["fds"])
			}
			t.Logf("%d conns opened in %v; child held %d fds, %d goroutines; all reclaimed %v after the drop; child fds %d -> %d",
				total, opened.Round(time.Millisecond), held["fds"], held["goroutines"],
				time.Since(start).Round(time.Millisecond), base["fds"], st["fds"])
			if err := probe(ch.addr, role); err != nil {
				t.Fatalf("server no longer serves after the burst: %v", err)
			}
		})
	}
}

// probe checks that the child server still answers.
func probe(addr, role string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg, want := "ping", "ping"
	if role == "http" {
		msg, want = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK"
	}
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != want {
		return fmt.Errorf("got %q, want %q", got, want)
	}
	return nil
}
