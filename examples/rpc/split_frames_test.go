package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// startDispatchServer serves the RPC handler as startServer does, with
// dispatch d.
func startDispatchServer(t *testing.T, d netpoll.Dispatch) string {
	t.Helper()
	s, err := netpoll.NewServer(handler(DefaultMaxFrame), netpoll.WithDispatch(d),
		netpoll.WithReadTimeout(10*time.Second),
		netpoll.WithOnConnect(serverOnConnect), netpoll.WithOnDisconnect(serverOnDisconnect))
	if err != nil {
		t.Fatal(err)
	}
	return serveTest(t, s)
}

// echoFrame is the request frame of an echo of arg, and its answer.
func echoFrame(arg string) (req, resp []byte) {
	req = binary.BigEndian.AppendUint32(nil, uint32(1+len(arg)))
	req = append(append(req, OpEcho), arg...)
	resp = binary.BigEndian.AppendUint32(nil, uint32(len(arg)))
	return req, append(resp, arg...)
}

// TestSplitFrames: the server answers a request as soon as it has it
// whole, whatever part of the next one came with it, and a request that
// arrives in pieces is answered once complete, on each dispatch mode.
// Before, the answer to a request waited, unsent, while the handler
// waited for the rest of the next one (for ever if the peer waited for
// the answer first: until the read timeout closed the connection, the
// answer never sent), and under DispatchInline a frame that arrived in
// two reads reset the connection (the handler returned ErrWouldBlock).
// A peer that half-closes inside a frame, or sends a bad one, gets the
// answers to the requests before it, then EOF (before, none).
func TestSplitFrames(t *testing.T) {
	startDialGroup(t)
	for _, mode := range []struct {
		name string
		d    netpoll.Dispatch
	}{{"handoff", netpoll.DispatchHandoff}, {"pool", netpoll.DispatchPool}, {"inline", netpoll.DispatchInline}} {
		t.Run(mode.name, func(t *testing.T) {
			fds, gs := countFDs(t), goroutines()
			t.Cleanup(func() { checkNoLeaks(t, fds, gs) }) // after the server's Cleanup
			addr := startDispatchServer(t, mode.d)
			dial := func(t *testing.T) net.Conn {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				c.(*net.TCPConn).SetNoDelay(true)
				t.Cleanup(func() { c.Close() }) // before the server's
				return c
			}
			expect := func(t *testing.T, c net.Conn, want []byte, within time.Duration, what string) {
				t.Helper()
				c.SetReadDeadline(time.Now().Add(within))
				got := make([]byte, len(want))
				if n, err := io.ReadFull(c, got); err != nil {
					t.Fatalf("%s: %v after %d of %d bytes", what, err, n, len(want))
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s: got %q, want %q", what, got, want)
				}
			}
			expectEnd := func(t *testing.T, c net.Conn, what string) {
				t.Helper()
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if n, err := c.Read(make([]byte, 16)); n != 0 || !(errors.Is(err, io.EOF) || isReset(err)) {
					t.Fatalf("%s: n=%d err=%v, want the connection closed", what, n, err)
				}
			}
			req1, resp1 := echoFrame("first")
			req2, resp2 := echoFrame("second, in pieces")

			t.Run("pieces", func(t *testing.T) {
				// The first request, whole, and 2 bytes of the next
				// one's header; then the next one's header and 3 bytes
				// of its body; then the rest, each answered within 2 s
				// (the server's read timeout is 10 s).
				c := dial(t)
				for i, piece := range [][]byte{append(append([]byte(nil), req1...), req2[:2]...), req2[2:8], req2[8:]} {
					if _, err := c.Write(piece); err != nil {
						t.Fatal(err)
					}
					switch i {
					case 0:
						expect(t, c, resp1, 2*time.Second, "the first answer, the next request's header incomplete")
					case 1:
						// Nothing to answer yet: the second request
						// lacks most of its body.
					case 2:
						expect(t, c, resp2, 2*time.Second, "the answer to a request sent in three pieces")
					}
					time.Sleep(20 * time.Millisecond) // pieces arrive apart
				}
			})

			t.Run("end inside a frame", func(t *testing.T) {
				c := dial(t)
				if _, err := c.Write(append(append([]byte(nil), req1...), req2[:8]...)); err != nil {
					t.Fatal(err)
				}
				c.(*net.TCPConn).CloseWrite()
				expect(t, c, resp1, 2*time.Second, "the first answer, the peer's end inside the next frame")
				expectEnd(t, c, "after the truncated frame")
			})

			t.Run("bad after good", func(t *testing.T) {
				// A request and a bad one in one write: the first is
				// answered, then the connection closes.
				c := dial(t)
				if _, err := c.Write(append(append([]byte(nil), req1...), 0, 0, 0, 2, 'z', 'z')); err != nil {
					t.Fatal(err)
				}
				expect(t, c, resp1, 2*time.Second, "the answer to the request before a bad one")
				expectEnd(t, c, "after the bad request")
			})

			t.Run("pipelined, read late", func(t *testing.T) {
				// The peer does not read until the server's output is
				// over its bound: under DispatchInline its Flush says
				// ErrWouldBlock, and every answer must come all the
				// same, in order.
				c := dial(t)
				arg := string(bytes.Repeat([]byte("0123456789abcdef"), 256))
				var reqs, want []byte
				for range 256 { // 1 MiB of answers, over MaxOutput's 256 KiB
					req, resp := echoFrame(arg)
					reqs, want = append(reqs, req...), append(want, resp...)
				}
				wrote := make(chan error, 1)
				go func() {
					c.SetWriteDeadline(time.Now().Add(10 * time.Second))
					_, err := c.Write(reqs)
					wrote <- err
				}()
				time.Sleep(300 * time.Millisecond)
				expect(t, c, want, 10*time.Second, "1 MiB of pipelined answers read late")
				if err := <-wrote; err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}
