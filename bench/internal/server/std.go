package server

import (
	"net"
	"net/http"
)

func startStdEcho(addr, _ string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go acceptLoop(ln, stdEchoConn)
	return ln.Addr(), nil
}

// stdEchoConn is the idiomatic goroutine-per-connection echo, with
// bufio's default buffer size: large enough that neither a 16 x 64 B
// pipelined batch nor a 4 KiB message is split into two reads and two
// writes (docs/tuning.md).
func stdEchoConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// helloBody is what every HTTP target answers.
var helloBody = []byte("Hello, World!")

// Hello is the net/http handler shared by std-http and upoll-http.
func Hello(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(helloBody)
}

func startStdHTTP(addr, _ string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	go (&http.Server{Handler: http.HandlerFunc(Hello)}).Serve(ln)
	return ln.Addr(), nil
}
