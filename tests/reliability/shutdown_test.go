package reliability

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// respPad makes responses large enough to span several writes.
var respPad = strings.Repeat("x", 3000)

// TestShutdownUnderLoad calls Server.Shutdown while 100 clients run
// request/response loops against a handler that answers each "N\n"
// with a 3 KB line. Every request must be answered in full and in order,
// or the connection closed before any byte of its answer: a partial
// answer at EOF fails. Shutdown must return nil once all are closed.
func TestShutdownUnderLoad(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			checkLeaks(t)
			n := startNative(t, func(c *netpoll.Conn) error {
				r, w := c.Reader(), c.Writer()
				for r.Len() > 0 {
					line, err := r.Until('\n')
					if err != nil {
						return err
					}
					req := string(line[:len(line)-1])
					r.Release()
					time.Sleep(100 * time.Microsecond) // some work in flight
					w.WriteString("resp " + req + " " + respPad + "\n")
					if err := w.Flush(); err != nil {
						return err
					}
				}
				return nil
			}, withTrigger(trig))
			answered := shutdownLoad(t, n.addr, 100, func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				return n.srv.Shutdown(ctx)
			}, nativeExchange)
			t.Logf("%d requests answered in full before and during Shutdown", answered)
		})
	}
}

// nativeExchange sends request i on c and reads its answer; clean
// reports a close before any byte of the answer.
func nativeExchange(c net.Conn, br *bufio.Reader, i int) (clean bool, err error) {
	if _, err := fmt.Fprintf(c, "%d\n", i); err != nil {
		return true, nil // closed before the request was taken
	}
	line, err := br.ReadString('\n')
	if err != nil {
		if line == "" && (err == io.EOF || isClosedByPeer(err)) {
			return true, nil
		}
		return false, fmt.Errorf("request %d: half-answered (%d B then %v)", i, len(line), err)
	}
	if want := "resp " + strconv.Itoa(i) + " " + respPad + "\n"; line != want {
		return false, fmt.Errorf("request %d: wrong answer %.40q", i, line)
	}
	return false, nil
}

// shutdownLoad runs clients request loops, calls shutdown once load is
// up, and checks every client's outcome; it returns the number of
// requests answered.
func shutdownLoad(t *testing.T, addr string, clients int, shutdown func() error,
	exchange func(net.Conn, *bufio.Reader, int) (bool, error)) int64 {
	t.Helper()
	var answered atomic.Int64
	var wg sync.WaitGroup
	for k := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(c)
			for i := range 100000 {
				closed, err := exchange(c, br, i)
				if err != nil {
					t.Errorf("client %d: %v", k, err)
					return
				}
				if closed {
					return
				}
				answered.Add(1)
			}
			t.Errorf("client %d: never closed", k)
		}()
	}
	if !testutil.WaitFor(20*time.Second, func() bool { return answered.Load() >= int64(clients*5) }) {
		t.Fatalf("load never came up: %d requests answered, want %d before Shutdown", answered.Load(), clients*5)
	}
	before := answered.Load()
	start := time.Now()
	err := shutdown()
	took := time.Since(start)
	if err != nil {
		t.Errorf("Shutdown: %v (after %v)", err, took)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("clients still running 30 s after Shutdown")
	}
	t.Logf("Shutdown took %v with %d clients; %d requests answered before it, %d in all", took.Round(time.Millisecond), clients, before, answered.Load())
	return answered.Load()
}

// TestShutdownUnderLoadHTTP is the same for http.Server.Shutdown on the
// adapter: every response read is complete (full Content-Length), or
// the connection closes before a response starts.
func TestShutdownUnderLoadHTTP(t *testing.T) {
	checkLeaks(t)
	e := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Microsecond)
		w.Header().Set("Content-Length", strconv.Itoa(len(respPad)+len(r.URL.Path)))
		io.WriteString(w, r.URL.Path)
		io.WriteString(w, respPad)
	}), nil)
	shutdownLoad(t, e.addr, 100, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return e.srv.Shutdown(ctx)
	}, func(c net.Conn, br *bufio.Reader, i int) (bool, error) {
		path := "/" + strconv.Itoa(i)
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
			return true, nil
		}
		if _, err := br.Peek(1); err != nil {
			if err == io.EOF || isClosedByPeer(err) {
				return true, nil
			}
			return false, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return false, fmt.Errorf("request %d: half-answered: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != path+respPad {
			return false, fmt.Errorf("request %d: body %d B, %v", i, len(body), err)
		}
		if resp.Close {
			return true, nil // the server said this was the last one
		}
		return false, nil
	})
}
