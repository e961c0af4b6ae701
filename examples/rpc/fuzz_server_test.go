package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// fuzzServer is the RPC server FuzzServerRequests sends to: one per
// process (each fuzz worker has its own), left running until it exits.
var fuzzServer = sync.OnceValues(func() (string, error) {
	s, err := netpoll.NewServer(handler(fuzzMax),
		netpoll.WithReadTimeout(2*time.Second),
		netpoll.WithOnConnect(serverOnConnect),
		netpoll.WithOnDisconnect(func(c *netpoll.Conn, err error) {
			serverOnDisconnect(c, err)
			if errors.Is(err, netpoll.ErrHandlerPanic) {
				fuzzPanics.Add(1)
			}
		}))
	if err != nil {
		return "", err
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		return "", err
	}
	go s.Serve(ln)
	return ln.Addr().String(), nil
})

const fuzzMax = 256

var fuzzPanics atomic.Int64

// FuzzServerRequests sends arbitrary request streams to the RPC server
// over loopback and checks its answers against serveModel, a reading of
// the protocol written apart from the server: the answers to the
// requests before the first protocol error (all of them, or a prefix of
// whole frames when an error closes the connection and drops answers not
// yet flushed), and no handler panic. Streams whose sleeps add up to more
// than 20 ms, or with a tagged sleep (answered out of order), are only
// checked for the panic and for the connection's end.
func FuzzServerRequests(f *testing.F) {
	frame := func(p ...byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...) }
	f.Add(frame('e', 'h', 'i'))
	f.Add(append(frame('u', 'a', 'b'), frame('#', 0, 0, 0, 7, 'e', 'x')...))
	f.Add(append(frame('s', 0, 1, 'z'), frame('u', 0xc4, 0xb1)...))
	f.Add(frame('#', 0, 0, 0, 1, 's', 0, 2, 'q'))
	f.Add(frame())
	f.Add([]byte{0, 0, 1, 1, 'e'})
	f.Add(frame('?'))
	f.Fuzz(func(t *testing.T, stream []byte) {
		if len(stream) > 4096 {
			stream = stream[:4096]
		}
		want, complete, sleep, tagged := serveModel(stream, fuzzMax)
		if sleep > 20*time.Millisecond {
			t.Skip("sleeps too long for a fuzz input")
		}
		addr, err := fuzzServer()
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, werr := c.Write(stream)
		if werr == nil {
			c.(*net.TCPConn).CloseWrite()
		}
		got, rerr := io.ReadAll(c)
		if n := fuzzPanics.Load(); n > 0 {
			t.Fatalf("%d handler panics", n)
		}
		var ne net.Error
		if errors.As(rerr, &ne) && ne.Timeout() {
			t.Fatalf("the server neither answered nor closed in 5 s (got %d bytes)", len(got))
		}
		if werr != nil || rerr != nil || tagged {
			return // a reset or out of order: nothing to compare
		}
		if complete && !bytes.Equal(got, want) {
			t.Fatalf("answers\n got %x\nwant %x", got, want)
		}
		if !complete && !bytes.HasPrefix(want, got) {
			t.Fatalf("answers before a protocol error\n got %x\nwant a prefix of %x", got, want)
		}
	})
}

// serveModel answers stream as the protocol (server.go) describes it:
// the answers to the requests before the first bad one, whether every
// request was good, the sleeps asked for, and whether one was tagged.
func serveModel(s []byte, max int) (out []byte, complete bool, sleep time.Duration, tagged bool) {
	for len(s) > 0 {
		if len(s) < HeaderLen {
			return out, false, sleep, tagged
		}
		n := int(binary.BigEndian.Uint32(s))
		if n == 0 || n > max || len(s)-HeaderLen < n {
			return out, false, sleep, tagged
		}
		body := s[HeaderLen : HeaderLen+n]
		s = s[HeaderLen+n:]
		var tag []byte
		op := body[0]
		body = body[1:]
		if op == OpTagged {
			if len(body) < IDLen+1 {
				return out, false, sleep, tagged
			}
			tag, op, body = body[:IDLen], body[IDLen], body[IDLen+1:]
		}
		if op == OpSleep {
			if len(body) < 2 {
				return out, false, sleep, tagged
			}
			sleep += time.Duration(binary.BigEndian.Uint16(body)) * time.Millisecond
			tagged = tagged || tag != nil
			op, body = OpEcho, body[2:]
		}
		switch op {
		case OpEcho:
		case OpUpper:
			body = bytes.ToUpper(body)
		default:
			return out, false, sleep, tagged
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(tag)+len(body)))
		out = append(append(out, tag...), body...)
	}
	return out, true, sleep, tagged
}
