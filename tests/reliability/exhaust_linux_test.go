package reliability

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestFDExhaustion runs a server in a child process whose RLIMIT_NOFILE
// is 64, and opens more connections than it can accept. While accept
// fails with EMFILE the server must back off (its CPU time over a 2 s
// saturated window stays far below a busy loop's 2 s), the connections
// it did accept must be served, and once descriptors are freed the
// waiting connections must be accepted and served too. Run for the
// netpoll echo server and for http.Server on the nethttp adapter.
func TestFDExhaustion(t *testing.T) {
	const (
		limit  = 64
		extra  = 16 // connections beyond what the child can accept
		window = 2 * time.Second
	)
	for _, role := range []string{"echo", "http"} {
		t.Run(role, func(t *testing.T) {
			checkLeaks(t)
			ch := startChild(t, role, fmt.Sprintf("%s=%d", childNofileEnv, limit))
			base := ch.stats(t)
			free := limit - int(base["fds"]) - 1
			if free < 8 {
				t.Fatalf("child starts with %d fds under a limit of %d", base["fds"], limit)
			}
			msg, want := "ping", "ping"
			if role == "http" {
				msg, want = "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"
			}
			type client struct {
				c    net.Conn
				mu   sync.Mutex
				at   time.Time // when the answer arrived
				err  error
				done chan struct{}
			}
			total := free + extra
			cl := make([]*client, total)
			for i := range cl {
				c := dial(t, ch.addr)
				c.SetDeadline(time.Now().Add(30 * time.Second))
				x := &client{c: c, done: make(chan struct{})}
				cl[i] = x
				defer c.Close()
				if _, err := io.WriteString(c, msg); err != nil {
					t.Fatal(err)
				}
				go func() {
					defer close(x.done)
					b := make([]byte, len(want))
					_, err := io.ReadFull(c, b)
					if err == nil && string(b) != want {
						err = fmt.Errorf("got %q", b)
					}
					x.mu.Lock()
					x.at, x.err = time.Now(), err
					x.mu.Unlock()
				}()
			}
			answered := func() (n int) {
				for _, x := range cl {
					x.mu.Lock()
					if !x.at.IsZero() && x.err == nil {
						n++
					}
					x.mu.Unlock()
				}
				return n
			}
			testutil.WaitFor(5*time.Second, func() bool { return answered() >= free-4 })
			time.Sleep(300 * time.Millisecond)
			served := answered()
			if served < free-4 || served > total-extra/2 {
				t.Fatalf("%d of %d conns answered with %d free fds", served, total, free)
			}
			cpu0 := ch.CPU(t)
			time.Sleep(window)
			cpu := ch.CPU(t) - cpu0
			if now := answered(); now != served {
				t.Fatalf("answers went from %d to %d while the child had no free fd", served, now)
			}
			t.Logf("saturated: %d of %d conns served, %d waiting; child CPU %v over %v", served, total, total-served, cpu, window)
			if cpu > window/10 {
				t.Errorf("child used %v CPU in %v while accept met EMFILE: not backing off", cpu, window)
			}
			// Free the child's descriptors: close the served connections.
			var waiting []*client
			for _, x := range cl {
				x.mu.Lock()
				ok := !x.at.IsZero()
				x.mu.Unlock()
				if ok {
					x.c.Close()
				} else {
					waiting = append(waiting, x)
				}
			}
			freed := time.Now()
			for i, x := range waiting {
				select {
				case <-x.done:
					if x.err != nil {
						t.Errorf("waiting conn %d: %v", i, x.err)
					}
				case <-time.After(15 * time.Second):
					t.Fatalf("waiting conn %d not served %v after fds were freed", i, time.Since(freed))
				}
			}
			t.Logf("all %d waiting conns served within %v of the fds being freed", len(waiting), time.Since(freed).Round(time.Millisecond))
			if role == "echo" {
				if st := ch.stats(t); st["backoffs"] == 0 {
					t.Errorf("no accept backoff counted: %v", st)
				}
			}
		})
	}
}
