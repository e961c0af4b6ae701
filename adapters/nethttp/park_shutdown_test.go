package nethttp

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestHijackAfterUnpark: a keep-alive connection is parked, woken
// by a request that hijacks it, and then used as a raw echo stream for
// longer than several lingers: the hijacked conn must never be parked
// (its bytes never reach Accept again), it closes once, and ConnState
// reports closed before new and hijacked last.
func TestHijackAfterUnpark(t *testing.T) {
	var mu sync.Mutex
	var states []string
	closes := make(chan error, 4)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hijack" {
			hello(w, r)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		c.SetDeadline(time.Now().Add(testDeadline))
		buf := make([]byte, 64)
		for {
			n, err := brw.Read(buf)
			if n > 0 {
				c.Write(buf[:n])
			}
			if err != nil {
				break
			}
		}
		closes <- c.Close()
		closes <- c.Close()
	})
	e := newHTTPEnv(t, parkStack(), h, func(s *http.Server) {
		s.ConnState = func(c net.Conn, cs http.ConnState) {
			mu.Lock()
			states = append(states, cs.String())
			mu.Unlock()
		}
	})
	c, br := e.raw()
	if got := roundTrip(t, c, br, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"); got != "hello /1" {
		t.Fatalf("first: %q", got)
	}
	waitParked(t, e, 1)
	io.WriteString(c, "GET /hijack HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	for i := range 10 {
		time.Sleep(3 * testLinger)
		msg := fmt.Sprintf("ping %d\n", i)
		io.WriteString(c, msg)
		line, err := br.ReadString('\n')
		if err != nil || line != msg {
			t.Fatalf("echo %d: %q, %v", i, line, err)
		}
	}
	if ps := e.parking(); ps.Parks != 1 || ps.Parked != 0 {
		t.Fatalf("hijacked conn parked: %+v", ps)
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if err := <-closes; err != nil {
		t.Errorf("first Close of hijacked conn: %v", err)
	}
	if err := <-closes; err == nil {
		t.Errorf("second Close of hijacked conn succeeded")
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("client after close: %v, want EOF", err)
	}
	waitStates(t, &mu, &states, "new active idle closed new active hijacked")
}

// TestShutdownParked: Shutdown with many parked conns and some
// active ones returns promptly, answers the in-flight requests, and every
// parked client sees its conn closed.
func TestShutdownParked(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		hello(w, r)
	})
	e := newHTTPEnv(t, parkStack(), h, nil)
	const parked, slow = 20, 3
	var conns []net.Conn
	var brs []*bufio.Reader
	for i := range parked {
		c, br := e.raw()
		if got := roundTrip(t, c, br, fmt.Sprintf("GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n", i)); got != fmt.Sprintf("hello /p%d", i) {
			t.Fatalf("%q", got)
		}
		conns, brs = append(conns, c), append(brs, br)
	}
	waitParked(t, e, parked)
	var wg sync.WaitGroup
	for i := range slow {
		c, br := e.raw()
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		wg.Go(func() {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Errorf("slow %d: %v", i, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			if string(b) != "hello /slow" {
				t.Errorf("slow %d: %q", i, b)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- e.srv.Shutdown(t.Context()) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	testutil.WaitGroup(t, &wg, testDeadline, "slow clients")
	for i, br := range brs {
		conns[i].SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := br.ReadByte(); err == nil {
			t.Errorf("parked client %d read a byte after Shutdown", i)
		}
	}
	if ps := e.parking(); ps.Parked != 0 {
		t.Errorf("after Shutdown: %+v", ps)
	}
}
