package server

import (
	"context"
	"net"

	cwnetpoll "github.com/cloudwego/netpoll"
	"github.com/valyala/fasthttp"
)

// Versions of the peers, as pinned in go.mod (kept in step by hand).
const (
	cloudwegoVersion = "v0.7.2"
	fasthttpVersion  = "v1.77.0"
	gnetVersion      = "v2.9.7"
	nbioVersion      = "v1.6.8"
)

func startCloudwegoEcho(addr, _ string) (net.Addr, error) {
	ln, err := cwnetpoll.CreateListener("tcp", addr)
	if err != nil {
		return nil, err
	}
	el, err := cwnetpoll.NewEventLoop(cloudwegoEcho)
	if err != nil {
		ln.Close()
		return nil, err
	}
	go el.Serve(ln)
	return ln.Addr(), nil
}

// cloudwegoEcho copies the readable bytes into the output buffer (Next +
// Malloc) and flushes, then releases the input. cloudwego's zero-copy
// Slice + Append panics in v0.7.2 when the slice comes from a connection's
// input buffer, and WriteBinary would reference input memory (for >= 4 KiB)
// past Release if Flush left bytes pending, so the one-copy form is used.
func cloudwegoEcho(_ context.Context, c cwnetpoll.Connection) error {
	r := c.Reader()
	n := r.Len()
	if n == 0 {
		return nil
	}
	in, err := r.Next(n)
	if err != nil {
		return err
	}
	w := c.Writer()
	out, err := w.Malloc(n)
	if err != nil {
		return err
	}
	copy(out, in)
	err = w.Flush()
	r.Release()
	return err
}

func startFastHTTP(addr, _ string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.Write(helloBody)
	}}
	go s.Serve(ln)
	return ln.Addr(), nil
}
