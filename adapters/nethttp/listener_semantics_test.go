package nethttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Listener semantics of Listen against net.Listen: Addr, Accept after
// Close (net.ErrClosed, *net.OpError "accept"), a second Close failing,
// and http.Server.Shutdown with an idle keep-alive connection.
func TestListenerSemanticsLikeNet(t *testing.T) {
	for _, mk := range []struct {
		name   string
		listen func(network, addr string) (net.Listener, error)
	}{{"go", net.Listen}, {"upoll", func(n, a string) (net.Listener, error) { return Listen(n, a) }}} {
		ln, err := mk.listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if ta, ok := ln.Addr().(*net.TCPAddr); !ok || ta.Port == 0 || !ta.IP.Equal(net.IPv4(127, 0, 0, 1)) {
			t.Errorf("%s: Addr = %#v", mk.name, ln.Addr())
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		buf := make([]byte, 4096)
		if n, err := c.Read(buf); err != nil || n == 0 {
			t.Fatalf("%s: response: %d %v", mk.name, n, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("%s: Shutdown = %v after %v", mk.name, err, time.Since(start))
		}
		cancel()
		if err := <-served; err != http.ErrServerClosed {
			t.Errorf("%s: Serve = %v", mk.name, err)
		}
		// The idle keep-alive connection was closed by Shutdown.
		if n, err := c.Read(buf); err != io.EOF {
			t.Errorf("%s: client Read after Shutdown = %d, %v; want io.EOF", mk.name, n, err)
		}
		c.Close()
		_, err = ln.Accept()
		var oe *net.OpError
		if !errors.Is(err, net.ErrClosed) || !errors.As(err, &oe) || oe.Op != "accept" {
			t.Errorf("%s: Accept after Close = %v", mk.name, err)
		}
		if err := ln.Close(); err == nil {
			t.Errorf("%s: second Close = nil; want an error", mk.name)
		}
		if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
			t.Errorf("%s: dial after Close succeeded", mk.name)
		}
	}
}
