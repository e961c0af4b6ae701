package rpcload

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"

	"github.com/upoll/upoll/netpoll"
)

// Server is a running server of the protocol.
type Server struct {
	Addr net.Addr
	// Poll is the upoll Server behind an "upoll" server (nil for "std"),
	// for its configuration and counters.
	Poll *netpoll.Server
}

// Start serves the protocol on addr with impl "upoll" or "std".
func Start(impl, addr string) (*Server, error) {
	switch impl {
	case "upoll":
		ln, err := netpoll.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		s, err := netpoll.NewServer(serveUpoll)
		if err != nil {
			ln.Close()
			return nil, err
		}
		go s.Serve(ln)
		return &Server{Addr: ln.Addr(), Poll: s}, nil
	case "std":
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go serveStd(c)
			}
		}()
		return &Server{Addr: ln.Addr()}, nil
	}
	return nil, errUnknownImpl(impl)
}

// serveUpoll answers every complete request buffered and leaves a
// partial one for the next run: it never waits for input.
func serveUpoll(c *netpoll.Conn) error {
	r, w := c.Reader(), c.Writer()
	for r.Len() >= reqHead {
		head, err := r.Peek(reqHead)
		if err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(head)
		m, err := checkRequest(n, head[hdrLen:])
		if err != nil {
			return err
		}
		if r.Len() < hdrLen+int(n) {
			break
		}
		req, err := r.Next(hdrLen + int(n))
		if err != nil {
			return err
		}
		out, err := w.Malloc(hdrLen + m)
		if err != nil {
			return err
		}
		putResponse(out, req)
	}
	if err := r.Release(); err != nil {
		return err
	}
	return w.Flush()
}

// serveStd is the goroutine-per-connection server: read a request,
// write its answer, flush when no more input is buffered.
func serveStd(c net.Conn) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriterSize(c, 4096)
	var req, out []byte
	for {
		if len(req) < reqHead {
			req = make([]byte, 4096)
		}
		if _, err := io.ReadFull(br, req[:reqHead]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(req)
		m, err := checkRequest(n, req[hdrLen:reqHead])
		if err != nil {
			return
		}
		if len(req) < hdrLen+int(n) {
			req = append(req[:reqHead], make([]byte, hdrLen+int(n)-reqHead)...)
		}
		if _, err := io.ReadFull(br, req[reqHead:hdrLen+int(n)]); err != nil {
			return
		}
		if len(out) < hdrLen+m {
			out = make([]byte, hdrLen+m)
		}
		putResponse(out[:hdrLen+m], req[:hdrLen+int(n)])
		if _, err := bw.Write(out[:hdrLen+m]); err != nil {
			return
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}
