package server

import (
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
)

// startNbioEcho runs nbio's Engine with its defaults (a poller per 4
// CPUs, at least one; level-triggered): OnData runs on the poller with
// the bytes it read, and Write sends them at once, keeping a copy of what
// the kernel refuses.
func startNbioEcho(addr, _ string) (net.Addr, error) {
	logging.SetLevel(logging.LevelError)
	g := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr}})
	g.OnData(func(c *nbio.Conn, data []byte) {
		if _, err := c.Write(data); err != nil {
			c.Close()
		}
	})
	if err := g.Start(); err != nil {
		return nil, fmt.Errorf("nbio: %w", err)
	}
	return net.ResolveTCPAddr("tcp", g.Addrs[0])
}

// startNbioHTTP runs nbhttp's Engine with its defaults (non-blocking
// I/O on nbio's pollers, its own HTTP/1.x parser) and the Hello handler
// plus an explicit Content-Length: nbhttp frames a body without one as
// chunked, where net/http sets the length of a small body itself, so
// every HTTP target sends the same bytes.
func startNbioHTTP(addr, _ string) (net.Addr, error) {
	logging.SetLevel(logging.LevelError)
	h := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", helloLength)
		Hello(w, r)
	}
	e := nbhttp.NewEngine(nbhttp.Config{Network: "tcp", Addrs: []string{addr}, Handler: http.HandlerFunc(h)})
	if err := e.Start(); err != nil {
		return nil, fmt.Errorf("nbhttp: %w", err)
	}
	return net.ResolveTCPAddr("tcp", e.Addrs[0])
}

var helloLength = strconv.Itoa(len(helloBody))
