package nethttp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/upoll/upoll/adapters/nethttp"
	"github.com/upoll/upoll/netpoll"
)

// An unchanged http.Server serving on upoll's pollers, and a client whose
// connections are on upoll too.
func Example() {
	ln, err := nethttp.Listen("tcp", "127.0.0.1:0", netpoll.WithPollers(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{
		Transport: &http.Transport{DialContext: (&nethttp.Dialer{}).DialContext},
		Timeout:   10 * time.Second,
	}
	resp, err := client.Get("http://" + ln.Addr().String() + "/upoll")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK hello from /upoll
}

// Graceful shutdown works as with Go's own listener: Shutdown closes the
// listener, lets the request in flight finish, then returns.
func ExampleListen_shutdown() {
	ln, err := nethttp.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, "finished")
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			body <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	fmt.Println("in-flight request:", <-body)
	fmt.Println("serve:", <-served)
	// Output:
	// shutdown: <nil>
	// in-flight request: finished
	// serve: http: Server closed
}

// A Dialer plugs into http.Transport so that clients run on upoll; the
// server here is the standard library's.
func ExampleDialer() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, client on upoll")
	}))
	defer srv.Close()

	tr := &http.Transport{DialContext: (&nethttp.Dialer{Timeout: 5 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK hello, client on upoll
}

// EnableParking takes idle keep-alive connections away from the server
// after a linger; the next request on the same socket brings it back.
func ExampleEnableParking() {
	ln, err := nethttp.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	})}
	if err := nethttp.EnableParking(srv, ln, nethttp.WithLinger(10*time.Millisecond)); err != nil {
		fmt.Println(err)
		return
	}
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{}
	get := func(path string) {
		resp, err := client.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Println(string(b))
	}
	get("/first")
	for i := 0; i < 500; i++ { // until parked, at most 5s
		if ps, _ := nethttp.Parking(ln); ps.Parked == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	get("/second") // the same connection, un-parked
	ps, _ := nethttp.Parking(ln)
	fmt.Println("un-parks:", ps.Unparks)
	// Output:
	// hello /first
	// hello /second
	// un-parks: 1
}

// Server reaches the netpoll Server behind a listener made by Listen: its
// configuration and its pollers' counters, here after one request.
func ExampleServer() {
	ln, err := nethttp.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "counted")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	st := nethttp.Server(ln).Stats()
	fmt.Println(string(body))
	fmt.Println("connections:", st.TotalConns, "request bytes read:", st.BytesIn > 0)
	if gl, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		fmt.Println("behind a listener of Go's:", nethttp.Server(gl))
		gl.Close()
	}
	// Output:
	// counted
	// connections: 1 request bytes read: true
	// behind a listener of Go's: <nil>
}
