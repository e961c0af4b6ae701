package nethttp

import (
	"io"
	"net/http"
	"testing"

	"github.com/upoll/upoll/netpoll"
)

// Listen and Dialer with BackendStd asked for in code serve as with the
// default: the adapter's own poller settings must not clash with the
// backend.
func TestListenBackendStdOption(t *testing.T) {
	ln, err := Listen("tcp", "127.0.0.1:0", netpoll.WithBackend(netpoll.BackendStd))
	if err != nil {
		t.Fatalf("Listen with BackendStd: %v", err)
	}
	defer ln.Close()
	if b := Server(ln).Config().Backend; b != netpoll.BackendStd {
		t.Fatalf("backend %v, want std", b)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })}
	go srv.Serve(ln)
	defer srv.Close()
	// The client side on BackendStd too, asked for the same way.
	d := &Dialer{Options: []netpoll.Option{netpoll.WithBackend(netpoll.BackendStd)}}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "hello" {
		t.Fatalf("body %q, %v", b, err)
	}
}
