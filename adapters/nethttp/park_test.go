package nethttp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// waitParked waits until e's listener holds n parked conns.
func waitParked(t *testing.T, e *httpEnv, n int64) {
	t.Helper()
	if !testutil.WaitFor(10*time.Second, func() bool { return e.parking().Parked == n }) {
		t.Fatalf("parked %+v, want %d parked", e.parking(), n)
	}
}

// roundTrip writes one raw request and reads its response body.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, req string) string {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

// waitStates waits until the ConnState names recorded in *states (under
// mu) read want, joined by spaces, and fails t if they do not within 5 s.
func waitStates(t *testing.T, mu *sync.Mutex, states *[]string, want string) {
	t.Helper()
	seen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(*states, " ")
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return seen() == want }) {
		t.Fatalf("ConnState saw %q, want %q", seen(), want)
	}
}

// TestParkConnStateAndContext runs the same exchange with and without
// parking and checks what EnableParking documents: ConnState reports
// StateClosed then StateNew around a parked period, ConnContext runs
// again, RemoteAddr stays the same; without parking neither happens.
func TestParkConnStateAndContext(t *testing.T) {
	for _, st := range httpStacks() {
		t.Run(st.name, func(t *testing.T) {
			var mu sync.Mutex
			var states []string
			var remotes []string
			contexts := 0
			e := newHTTPEnv(t, st, http.HandlerFunc(hello), func(s *http.Server) {
				s.ConnState = func(c net.Conn, cs http.ConnState) {
					mu.Lock()
					defer mu.Unlock()
					states = append(states, cs.String())
					remotes = append(remotes, c.RemoteAddr().String())
				}
				s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
					mu.Lock()
					contexts++
					mu.Unlock()
					return ctx
				}
			})
			c, br := e.raw()
			if got := roundTrip(t, c, br, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"); got != "hello /1" {
				t.Fatalf("first: %q", got)
			}
			if st.park {
				waitParked(t, e, 1)
			} else {
				time.Sleep(10 * testLinger)
			}
			if got := roundTrip(t, c, br, "GET /2 HTTP/1.1\r\nHost: x\r\n\r\n"); got != "hello /2" {
				t.Fatalf("second: %q", got)
			}
			want := "new active idle active idle"
			wantContexts := 1
			if st.park {
				want = "new active idle closed new active idle"
				wantContexts = 2
				if ps := e.parking(); ps.Parks != 1 || ps.Unparks != 1 || ps.Parked != 0 || ps.WokeBytes == 0 {
					t.Errorf("counters %+v, want 1 park, 1 un-park, none parked, woken by some bytes", ps)
				}
			}
			waitStates(t, &mu, &states, want)
			mu.Lock()
			defer mu.Unlock()
			if contexts != wantContexts {
				t.Errorf("ConnContext ran %d times, want %d", contexts, wantContexts)
			}
			for _, r := range remotes {
				if r != c.LocalAddr().String() {
					t.Errorf("RemoteAddr %s, want the client's %s", r, c.LocalAddr())
				}
			}
		})
	}
}

// TestParkRequestDuringParking has clients send each next request around
// the moment the linger passes, so that its first bytes meet every step
// of a park (the sweeper's wake-up, io.EOF, srv's Close, the
// registration) or beat the wake-up, and splits some requests in two
// writes. Every answer must come, in order.
func TestParkRequestDuringParking(t *testing.T) {
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), nil)
	const clients, rounds = 8, 40
	var wg sync.WaitGroup
	for k := range clients {
		c, br := e.raw()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(3, uint64(k)))
			for i := range rounds {
				req := fmt.Sprintf("GET /r%d-%d HTTP/1.1\r\nHost: x\r\n\r\n", k, i)
				if i%3 == 0 {
					cut := 1 + r.IntN(len(req)-1)
					io.WriteString(c, req[:cut])
					time.Sleep(time.Duration(r.IntN(int(testLinger))))
					req = req[cut:]
				}
				if _, err := io.WriteString(c, req); err != nil {
					t.Error(err)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Errorf("client %d request %d: %v", k, i, err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("hello /r%d-%d", k, i); err != nil || string(body) != want {
					t.Errorf("client %d: %q, %v; want %q", k, body, err, want)
					return
				}
				// Around the park window [linger, 1.25 linger].
				time.Sleep(testLinger/2 + time.Duration(r.IntN(int(testLinger))))
			}
		}()
	}
	testutil.WaitGroup(t, &wg, 2*testDeadline, "the clients")
	ps := e.parking()
	t.Logf("%+v", ps)
	if ps.Parks == 0 {
		t.Error("no conn parked: the test did not test parking")
	}
}

// TestParkPipelined pipelines requests with pauses longer than the
// linger between batches: a batch wakes a parked conn and is answered in
// order.
func TestParkPipelined(t *testing.T) {
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), nil)
	c, br := e.raw()
	n := 0
	for batch := range 5 {
		var reqs strings.Builder
		for range 10 {
			fmt.Fprintf(&reqs, "GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
			n++
		}
		if _, err := io.WriteString(c, reqs.String()); err != nil {
			t.Fatal(err)
		}
		for i := n - 10; i < n; i++ {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("batch %d response %d: %v", batch, i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("hello /p%d", i); string(body) != want {
				t.Fatalf("got %q, want %q", body, want)
			}
		}
		waitParked(t, e, 1)
	}
	if ps := e.parking(); ps.Parks != 5 || ps.Unparks != 4 {
		t.Errorf("counters %+v, want 5 parks and 4 un-parks", ps)
	}
}

// TestParkSlowloris: a client that sends half a request line to a parked
// conn and stalls is cut off by ReadHeaderTimeout, counted from the
// un-park.
func TestParkSlowloris(t *testing.T) {
	const timeout = time.Second
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), func(s *http.Server) {
		s.ReadHeaderTimeout = timeout
	})
	c, br := e.raw()
	roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	waitParked(t, e, 1)
	start := time.Now()
	io.WriteString(c, "GET /sl")
	d := expectServerClose(t, br, start, 10*time.Second)
	if d < timeout-100*time.Millisecond || d > timeout+3*time.Second {
		t.Fatalf("stalled request line cut off after %v, want about %v", d, timeout)
	}
	if ps := e.parking(); ps.Parked != 0 || ps.Unparks != 1 {
		t.Fatalf("counters %+v, want the conn un-parked and gone", ps)
	}
}

// TestParkClientLeaves: clients that close or reset parked conns free
// them: no parked entry, goroutine or descriptor is left.
func TestParkClientLeaves(t *testing.T) {
	testutil.CheckLeaks(t)
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), nil)
	const n = 20
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(testDeadline))
		conns[i] = c
		roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	waitParked(t, e, n)
	for i, c := range conns {
		if i%2 == 0 {
			c.(*net.TCPConn).SetLinger(0) // RST
		}
		c.Close()
	}
	waitParked(t, e, 0)
	if ps := e.parking(); ps.Unparks != 0 || ps.Parks != n {
		t.Errorf("counters %+v: leaving clients must not reach Accept", ps)
	}
	e.close()
}

// TestParkIdleTimeout: IdleTimeout closes a parked conn when it passes,
// counted from the last response as without parking.
func TestParkIdleTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), func(s *http.Server) { s.IdleTimeout = timeout })
	c, br := e.raw()
	start := time.Now()
	roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	waitParked(t, e, 1)
	d := expectServerClose(t, br, start, 10*time.Second)
	if d < timeout-50*time.Millisecond || d > timeout+3*time.Second {
		t.Fatalf("parked conn closed after %v, want about %v", d, timeout)
	}
	waitParked(t, e, 0)
}

// TestParkShutdown: Shutdown and Close close parked conns at once.
func TestParkShutdown(t *testing.T) {
	for _, how := range []string{"shutdown", "close"} {
		t.Run(how, func(t *testing.T) {
			e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), nil)
			c, br := e.raw()
			roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			waitParked(t, e, 1)
			start := time.Now()
			if how == "shutdown" {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := e.srv.Shutdown(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				e.srv.Close()
			}
			if d := expectServerClose(t, br, start, 5*time.Second); d > 2*time.Second {
				t.Fatalf("parked conn closed %v after %s", d, how)
			}
			if ps := e.parking(); ps.Parked != 0 {
				t.Fatalf("%+v after %s", ps, how)
			}
		})
	}
}

// TestParkRefused: EnableParking refuses what it cannot honour.
func TestParkRefused(t *testing.T) {
	std := stdStack().listenTB(t)
	if err := EnableParking(&http.Server{}, std); err == nil {
		t.Error("EnableParking accepted a standard listener")
	}
	ln := upollStack().listenTB(t)
	if err := EnableParking(&http.Server{TLSConfig: &tls.Config{}}, ln); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("EnableParking with a TLSConfig: %v, want a TLS error", err)
	}
	// A linger of 3 ns once made the sweep's ticker panic, in a
	// goroutine of its own, after EnableParking had returned nil.
	for _, d := range []time.Duration{0, -time.Second, 3, time.Microsecond} {
		if err := EnableParking(&http.Server{}, ln, WithLinger(d)); err == nil {
			t.Errorf("EnableParking accepted a linger of %v (MinLinger %v)", d, MinLinger)
		}
	}
	if err := EnableParking(&http.Server{}, ln); err != nil {
		t.Fatal(err)
	}
	if err := EnableParking(&http.Server{}, ln); err == nil {
		t.Error("EnableParking accepted a listener that already parks")
	}
	if _, ok := Parking(std); ok {
		t.Error("Parking reported counters for a standard listener")
	}
}

// TestParkRefusedAfterClose: EnableParking on a closed listener fails
// with net.ErrClosed and leaves no sweep running (nothing would stop
// it: the listener's Close is done).
func TestParkRefusedAfterClose(t *testing.T) {
	sweeps := func() int {
		buf := make([]byte, 1<<20)
		return strings.Count(string(buf[:runtime.Stack(buf, true)]), "(*lot).sweep")
	}
	// The sweeps of earlier tests' listeners end after their Close; one
	// ending during this test made the count -1 in CI.
	testutil.WaitFor(5*time.Second, func() bool { return sweeps() == 0 })
	before := sweeps()
	for range 5 {
		ln := upollStack().listenTB(t)
		ln.Close()
		if err := EnableParking(&http.Server{}, ln); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("EnableParking on a closed listener: %v, want net.ErrClosed", err)
		}
	}
	if n := sweeps() - before; n > 0 {
		t.Fatalf("%d sweeps running for closed listeners", n)
	}
}

// dateHeader is the only part of a response that may differ between two
// servers answering the same request.
var dateHeader = regexp.MustCompile(`(?m)^Date: .*\r\n`)

// TestParkDifferential sends the same requests, over keep-alive conns
// with pauses that park them, to an http.Server on the standard listener
// and to one on a parking listener, and compares the raw responses byte
// for byte (the Date header aside).
func TestParkDifferential(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(body)
		case "/stream":
			for i := range 3 {
				fmt.Fprintf(w, "chunk %d;", i)
				w.(http.Flusher).Flush()
			}
		case "/missing":
			http.NotFound(w, r)
		default:
			fmt.Fprintf(w, "%s %s %d %q", r.Method, r.URL.Path, len(body), r.Header.Get("X-Seq"))
		}
	})
	// Each request, with the methods of the requests it carries (two
	// when pipelined), whose responses are read before the next one.
	reqs := []struct {
		raw     string
		methods []string
	}{
		{"GET /a HTTP/1.1\r\nHost: x\r\nX-Seq: 1\r\n\r\n", []string{"GET"}},
		{"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world", []string{"POST"}},
		{"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", []string{"POST"}},
		{"HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n", []string{"HEAD"}},
		{"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", []string{"GET"}},
		{"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", []string{"GET"}},
		{"POST /b HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", []string{"POST"}},
		{"GET /c HTTP/1.1\r\nHost: x\r\nX-Seq: 2\r\n\r\nGET /d HTTP/1.1\r\nHost: x\r\nX-Seq: 3\r\n\r\n", []string{"GET", "GET"}},
		{"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", []string{"GET"}},
	}
	run := func(st stack) (string, ParkStats) {
		e := newHTTPEnv(t, st, h, nil)
		var all strings.Builder
		for conn := range 3 {
			c := e.st.dialTB(t, e.addr)
			// The responses are parsed to know where they end; what is
			// compared is the raw bytes the parser consumed. The server
			// sends nothing before the next request, so the reader never
			// holds bytes of a later answer.
			var raw bytes.Buffer
			br := bufio.NewReader(io.TeeReader(c, &raw))
			for i, req := range reqs {
				if _, err := io.WriteString(c, req.raw); err != nil {
					t.Fatal(err)
				}
				for _, m := range req.methods {
					for {
						resp, err := http.ReadResponse(br, &http.Request{Method: m})
						if err != nil {
							t.Fatalf("%s conn %d request %d: %v", st.name, conn, i, err)
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode >= 200 {
							break
						}
					}
				}
				if i == len(reqs)-1 {
					if _, err := br.ReadByte(); err != io.EOF {
						t.Fatalf("%s: after Connection: close, %v; want EOF", st.name, err)
					}
				}
				fmt.Fprintf(&all, "conn %d req %d:\n%s\n", conn, i, dateHeader.ReplaceAllString(raw.String(), ""))
				raw.Reset()
				if st.park && i < len(reqs)-1 {
					waitParked(t, e, 1)
				}
			}
			c.Close()
		}
		return all.String(), e.parking()
	}
	want, _ := run(stdStack())
	got, ps := run(parkStack())
	if got != want {
		t.Fatalf("responses differ:\nstd:\n%s\nparking:\n%s", want, got)
	}
	if ps.Parks < int64(3*(len(reqs)-1)) {
		t.Errorf("counters %+v: conns did not park between requests", ps)
	}
}

// TestParkNeverMidRequest: bytes of the next request that srv already
// holds keep its conn from parking, however long the rest takes: a
// partial request line in srv's buffer (it is then not reading into the
// start of it), and a whole request line with the headers still to come
// (srv is past its idle wait).
func TestParkNeverMidRequest(t *testing.T) {
	for _, tc := range []struct{ name, head, rest string }{
		{"partial-line", "GE", "T /2 HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"line-no-headers", "GET /2 HTTP/1.1\r\n", "Host: x\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), nil)
			c, br := e.raw()
			if got := roundTrip(t, c, br, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"+tc.head); got != "hello /1" {
				t.Fatalf("first: %q", got)
			}
			time.Sleep(20 * testLinger)
			if ps := e.parking(); ps.Parks != 0 {
				t.Fatalf("parked with part of a request held by the server: %+v", ps)
			}
			if got := roundTrip(t, c, br, tc.rest); got != "hello /2" {
				t.Fatalf("second: %q", got)
			}
		})
	}
}

// TestParkGoroutinesFlat: parked conns hold no goroutine, so the count
// stays flat however many are parked; and without the race detector's
// shadow memory, what each holds stays far below a served conn's ~19 kB.
func TestParkGoroutinesFlat(t *testing.T) {
	skipStdBackend(t, "a parked connection there waits for input on a goroutine of its own")
	testutil.CheckLeaks(t)
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), nil)
	const n = 300
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	waitParked(t, e, 0)
	before := runtime.NumGoroutine()
	heapBefore := liveBytes()
	for range n {
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(testDeadline))
		conns = append(conns, c)
		roundTrip(t, c, bufio.NewReader(c), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	waitParked(t, e, n)
	// The client side of each conn is in this process too, but it holds
	// no goroutine: it is not reading.
	if !testutil.WaitFor(5*time.Second, func() bool { return runtime.NumGoroutine()-before < 20 }) {
		t.Fatalf("goroutines grew from %d to %d with %d conns parked", before, runtime.NumGoroutine(), n)
	}
	if !raceBuild {
		// Both ends are counted: the client's net.Conn and bufio.Reader
		// (4 kB) too.
		if per := (liveBytes() - heapBefore) / n; per > 8<<10 {
			t.Errorf("%d bytes of heap and stacks per parked conn and its client", per)
		}
	}
	if ps := e.parking(); ps.Bytes != n*parkedConnBytes {
		t.Errorf("Bytes = %d, want %d", ps.Bytes, n*parkedConnBytes)
	}
}

// TestParkMaxHeaderBytes: the request that un-parks a conn is held to
// MaxHeaderBytes like any first request.
func TestParkMaxHeaderBytes(t *testing.T) {
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), func(s *http.Server) { s.MaxHeaderBytes = 1 << 10 })
	c, br := e.raw()
	roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	waitParked(t, e, 1)
	io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 8<<10)+"\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %s, want 431", resp.Status)
	}
}

// TestParkNeverH2C: HTTP/2 without TLS (prior knowledge) is served by
// net/http's HTTP/2 server, whose ConnState calls name a wrapper, not
// the listener's conn: such a connection never parks, however long it
// idles, and keeps serving.
func TestParkNeverH2C(t *testing.T) {
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}), func(s *http.Server) {
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		s.Protocols.SetUnencryptedHTTP2(true)
	})
	e.tr.Protocols = new(http.Protocols)
	e.tr.Protocols.SetUnencryptedHTTP2(true)
	for i := range 3 {
		resp, err := e.client.Get(fmt.Sprintf("%s/h%d", e.url, i))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("HTTP/2.0 /h%d", i); err != nil || string(body) != want {
			t.Fatalf("body %q, %v; want %q", body, err, want)
		}
		time.Sleep(20 * testLinger)
	}
	if ps := e.parking(); ps.Parks != 0 || e.newConns.Load() != 1 {
		t.Fatalf("h2c conn parked: %+v, %d conns", ps, e.newConns.Load())
	}
}

// TestParkClosedBeforeNew: a ConnState hook that takes its time over
// StateClosed of a parked connection still sees it before StateNew of
// the same socket handed back by the next request, which the client
// sends as soon as the connection is parked.
func TestParkClosedBeforeNew(t *testing.T) {
	var mu sync.Mutex
	var states []string
	e := newHTTPEnv(t, parkStack(), http.HandlerFunc(hello), func(s *http.Server) {
		s.ConnState = func(c net.Conn, cs http.ConnState) {
			if cs == http.StateClosed {
				time.Sleep(100 * time.Millisecond)
			}
			mu.Lock()
			states = append(states, cs.String())
			mu.Unlock()
		}
	})
	c, br := e.raw()
	for i := range 3 {
		path := fmt.Sprintf("/%d", i)
		if got := roundTrip(t, c, br, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); got != "hello "+path {
			t.Fatalf("request %d: %q", i, got)
		}
		if !testutil.WaitFor(5*time.Second, func() bool { return e.parking().Parks == int64(i+1) }) {
			t.Fatalf("parked %+v, want park %d", e.parking(), i+1)
		}
	}
	want := "new active idle closed new active idle closed new active idle closed"
	waitStates(t, &mu, &states, want)
}
