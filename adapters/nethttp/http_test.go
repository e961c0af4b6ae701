package nethttp

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

func hello(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "hello "+r.URL.Path)
}

func get(t *testing.T, e *httpEnv, path string) string {
	t.Helper()
	resp, err := e.client.Get(e.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", path, err)
	}
	return string(body)
}

// TestKeepAlive checks that sequential requests reuse one connection.
func TestKeepAlive(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		e := newHTTPEnv(t, st, http.HandlerFunc(hello), nil)
		reused := 0
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				reused++
			}
		}}
		for i := range 50 {
			req, _ := http.NewRequest("GET", fmt.Sprintf("%s/%d", e.url, i), nil)
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("hello /%d", i); err != nil || string(body) != want {
				t.Fatalf("body = %q, %v; want %q", body, err, want)
			}
		}
		// Parking: every un-park is a new conn to the server (StateNew),
		// over the same socket, so the client still reuses one.
		want := 1 + e.parking().Unparks
		if reused != 49 || e.newConns.Load() != want {
			t.Fatalf("reused %d of 49, server saw %d conns; want %d", reused, e.newConns.Load(), want)
		}
	})
}

// TestPipelining writes several requests in one segment and expects the
// answers in order.
func TestPipelining(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		e := newHTTPEnv(t, st, http.HandlerFunc(hello), nil)
		c, br := e.raw()
		var reqs strings.Builder
		const n = 20
		for i := range n {
			fmt.Fprintf(&reqs, "GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		}
		if _, err := io.WriteString(c, reqs.String()); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			if want := fmt.Sprintf("hello /p%d", i); err != nil || string(body) != want {
				t.Fatalf("response %d = %q, %v; want %q", i, body, err, want)
			}
		}
	})
}

// TestChunked sends a chunked request body and echoes it back chunked,
// flushing between pieces so the response is really sent in chunks.
func TestChunked(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if len(r.TransferEncoding) == 0 || r.TransferEncoding[0] != "chunked" {
				t.Errorf("request TransferEncoding = %v, want chunked", r.TransferEncoding)
			}
			// Answer while the request is still arriving.
			if err := http.NewResponseController(w).EnableFullDuplex(); err != nil {
				t.Errorf("EnableFullDuplex: %v", err)
			}
			buf := make([]byte, 1000)
			for {
				n, err := r.Body.Read(buf)
				w.Write(buf[:n])
				w.(http.Flusher).Flush()
				if err != nil {
					return
				}
			}
		}), nil)
		pr, pw := io.Pipe()
		go func() {
			for i := range 100 {
				fmt.Fprintf(pw, "piece %03d;", i)
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", e.url, pr)
		req.ContentLength = -1
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("response TransferEncoding = %v, want chunked", resp.TransferEncoding)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for i := range 100 {
			fmt.Fprintf(&want, "piece %03d;", i)
		}
		if string(body) != want.String() {
			t.Fatalf("echo = %q", body)
		}
	})
}

// bigSize is the size of the streamed upload and download.
func bigSize() int64 {
	if testing.Short() {
		return 8 << 20
	}
	return 64 << 20
}

// TestBigUploadDownload streams bigSize bytes each way and checks every
// byte. The download has a Content-Length, so net/http hands the body to the
// conn's io.ReaderFrom; a second, chunked download goes through Write.
func TestBigUploadDownload(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		size := bigSize()
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/up":
				n, err := io.Copy(&patternChecker{}, r.Body)
				if err != nil || n != size {
					http.Error(w, fmt.Sprintf("got %d bytes: %v", n, err), http.StatusBadRequest)
					return
				}
				io.WriteString(w, "ok")
			case "/down":
				w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
				io.Copy(w, &patternReader{n: size})
			case "/down-chunked":
				io.Copy(w, struct{ io.Reader }{&patternReader{n: size / 4}})
			}
		}), nil)

		resp, err := e.client.Post(e.url+"/up", "application/octet-stream",
			struct{ io.Reader }{&patternReader{n: size}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("upload: %s %s", resp.Status, body)
		}

		for path, want := range map[string]int64{"/down": size, "/down-chunked": size / 4} {
			resp, err = e.client.Get(e.url + path)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(&patternChecker{}, resp.Body)
			resp.Body.Close()
			if err != nil || n != want {
				t.Fatalf("%s: %d bytes, %v; want %d", path, n, err, want)
			}
		}
	})
}

// TestExpectContinue checks that the client gets "100 Continue" before it
// sends the body, and the final answer after.
func TestExpectContinue(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %s", b)
		}), nil)
		c, br := e.raw()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
			t.Fatalf("interim response = %q, %v; want 100 Continue", line, err)
		}
		if blank, _ := br.ReadString('\n'); blank != "\r\n" {
			t.Fatalf("100 Continue followed by %q", blank)
		}
		io.WriteString(c, "hello")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "got hello" {
			t.Fatalf("body = %q", body)
		}
	})
}

// TestHijack upgrades the connection the way WebSocket servers do and runs a
// raw line protocol both ways. The client's first message rides in the same
// segment as the upgrade request, so it sits in the server's bufio.Reader.
func TestHijack(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Upgrade") != "echo" {
				http.Error(w, "upgrade required", http.StatusUpgradeRequired)
				return
			}
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(testDeadline))
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			for {
				line, err := brw.ReadString('\n')
				if err != nil {
					return
				}
				if line == "quit\n" {
					io.WriteString(c, "bye\n")
					return
				}
				io.WriteString(c, strings.ToUpper(line))
			}
		}), nil)
		c, br := e.raw()
		io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade response: %v %v", resp, err)
		}
		expectLine(t, br, "EARLY\n")
		for i := range 20 {
			fmt.Fprintf(c, "msg %d\n", i)
			expectLine(t, br, fmt.Sprintf("MSG %d\n", i))
		}
		io.WriteString(c, "quit\n")
		expectLine(t, br, "bye\n")
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("after bye: %v, want EOF", err)
		}
		if !testutil.WaitFor(5*time.Second, func() bool { return e.closed.Load() == 1 }) {
			t.Fatal("server did not report the conn hijacked")
		}
	})
}

func expectLine(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	got, err := br.ReadString('\n')
	if err != nil || got != want {
		t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

// TestHandlerPanic checks that a panicking handler costs only its own
// connection: the client sees an error, the server logs it and keeps serving.
func TestHandlerPanic(t *testing.T) {
	forEachHTTPStack(t, func(t *testing.T, st stack) {
		e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/panic" {
				panic("boom")
			}
			hello(w, r)
		}), nil)
		if got := get(t, e, "/a"); got != "hello /a" {
			t.Fatalf("before panic: %q", got)
		}
		resp, err := e.client.Get(e.url + "/panic")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("panicking handler answered %s", resp.Status)
		}
		if got := get(t, e, "/b"); got != "hello /b" {
			t.Fatalf("after panic: %q", got)
		}
		if !strings.Contains(e.log.String(), "panic serving") || !strings.Contains(e.log.String(), "boom") {
			t.Fatalf("server log lacks the panic: %q", e.log.String())
		}
		if !testutil.WaitFor(5*time.Second, func() bool { return e.closed.Load() >= 1 }) {
			t.Fatal("panicked conn never closed")
		}
	})
}
