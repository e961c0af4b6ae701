package netpoll

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// goSource is the reading end of a TCP connection of Go's net on
// 127.0.0.1 and its writing end (the feeder); both close at the test's
// end.
func goSource(t testing.TB) (src, feeder *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	feeder = dialTCP(t, ln.Addr().String())
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), feeder
}

// feed writes b to feeder in a goroutine of its own, then closes its
// write side when eof is set. Its error (nil when all was written)
// arrives on the channel.
func feed(feeder *net.TCPConn, b []byte, eof bool) <-chan error {
	done := make(chan error, 1)
	go func() {
		feeder.SetWriteDeadline(time.Now().Add(30 * time.Second))
		_, err := feeder.Write(b)
		if eof && err == nil {
			err = feeder.CloseWrite()
		}
		done <- err
	}()
	return done
}

// stream is pattern(size) made distinct by seed: the transfers of one
// test cannot pass for each other.
func stream(size int, seed byte) []byte {
	b := pattern(size)
	for i := range b {
		b[i] ^= seed
	}
	return b
}

// TestReadFromSplice: ReadFrom from one of Go's TCP sockets sends what
// the source yields, after what was queued, on every backend and
// trigger, without write calls: on the native backends with splice
// (Stats.Splices), waiting for room when the peer reads slowly, and
// under BackendStd with Go's ReadFrom (its splice). Three shapes of the
// source: the *net.TCPConn itself, io.Copy from it (which reaches
// ReadFrom through the source's WriteTo, wrapped in a type of Go's net),
// and an *io.LimitedReader, which sends exactly its limit and leaves
// the rest in the source.
func TestReadFromSplice(t *testing.T) {
	const size, limit, more = 3<<20 + 17, 1<<20 + 7, 5000
	for _, b := range testBackends(true) {
		for _, trig := range allTriggers {
			if b == BackendStd && trig != LevelTriggered {
				continue
			}
			t.Run(b.String()+"/"+trig.String(), func(t *testing.T) {
				opts := []Option{WithBackend(b)}
				if b != BackendStd {
					opts = append(opts, WithTrigger(trig))
				}
				s, addr, conns := startAccept(t, opts...)
				peer := dialTCP(t, addr)
				peer.SetReadBuffer(16 << 10)
				c := recvConn(t, conns)
				c.SetWriteBuffer(16 << 10)
				c.SetWriteDeadline(time.Now().Add(20 * time.Second)) // a lost wake-up fails, not hangs
				head := []byte("head:")
				if _, err := c.Writer().WriteBinary(head); err != nil {
					t.Fatal(err)
				}
				d1, d2, d3 := stream(size, 1), stream(size/3, 2), stream(limit+more, 3)
				want := bytes.Join([][]byte{head, d1, d2, d3[:limit]}, nil)
				got := make(chan []byte, 1)
				go slowRead(peer, len(want), got)

				src, feeder := goSource(t)
				fed := feed(feeder, d1, true)
				n, err := c.ReadFrom(src)
				if err != nil || n != size {
					t.Fatalf("ReadFrom(*net.TCPConn) = %d, %v; want %d, nil", n, err, size)
				}
				if err := <-fed; err != nil {
					t.Fatal(err)
				}

				src, feeder = goSource(t)
				fed = feed(feeder, d2, true)
				if n, err := io.Copy(c, src); err != nil || n != int64(len(d2)) {
					t.Fatalf("io.Copy(c, *net.TCPConn) = %d, %v; want %d, nil", n, err, len(d2))
				}
				<-fed

				src, feeder = goSource(t)
				fed = feed(feeder, d3, false)
				lr := &io.LimitedReader{R: src, N: limit}
				if n, err := c.ReadFrom(lr); err != nil || n != limit || lr.N != 0 {
					t.Fatalf("ReadFrom(limited) = %d, %v, N left %d; want %d, nil, 0", n, err, lr.N, limit)
				}
				<-fed
				src.SetReadDeadline(time.Now().Add(5 * time.Second))
				rest := make([]byte, more)
				if _, err := io.ReadFull(src, rest); err != nil || !bytes.Equal(rest, d3[limit:]) {
					t.Fatalf("the source after the limited ReadFrom: %v, or not the bytes past the limit", err)
				}

				received(t, got, want)
				st := s.Stats()
				checkFdSend(t, b, st, "Splices", st.Splices, len(want))
			})
		}
	}
}

// TestReadFromSpliceStops: ReadFrom from a socket stops, with the error
// Go's splice gives, when this connection's write deadline or timeout
// passes or it is closed or reset while it waits for room, and when the
// source's read deadline passes or the source is closed while ReadFrom
// waits for it. What it reports sent is what the peer gets; on a stop
// of the source's, everything that the source yielded arrived.
func TestReadFromSpliceStops(t *testing.T) {
	const part = 256 << 10
	isOpErr := func(err error) bool {
		var oe *net.OpError
		return errors.As(err, &oe) && oe.Op == "readfrom"
	}
	cases := []struct {
		name string
		opts []Option
		// stop arranges the stop; full: the source yields a stream the
		// peer does not read (a stop of this connection's), else part
		// bytes that the peer reads, then nothing.
		stop func(c *Conn, peer, src *net.TCPConn)
		full bool
		want func(err error) bool
	}{
		{"deadline", nil, func(c *Conn, _, _ *net.TCPConn) {
			c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		}, true, func(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) && isTimeout(err) }},
		{"timeout", []Option{WithWriteTimeout(100 * time.Millisecond)}, func(*Conn, *net.TCPConn, *net.TCPConn) {},
			true, func(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }},
		{"close", nil, func(c *Conn, _, _ *net.TCPConn) {
			time.AfterFunc(100*time.Millisecond, func() { c.Close() })
		}, true, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
		{"reset", nil, func(_ *Conn, peer, _ *net.TCPConn) {
			time.AfterFunc(100*time.Millisecond, func() { peer.SetLinger(0); peer.Close() })
		}, true, func(err error) bool {
			var se *os.SyscallError
			return errors.As(err, &se) && se.Syscall == "splice"
		}},
		{"source deadline", nil, func(_ *Conn, _, src *net.TCPConn) {
			src.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		}, false, func(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }},
		{"source closed", nil, func(_ *Conn, _, src *net.TCPConn) {
			time.AfterFunc(200*time.Millisecond, func() { src.Close() })
		}, false, func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	}
	for _, b := range testBackends(true) {
		for _, tc := range cases {
			t.Run(b.String()+"/"+tc.name, func(t *testing.T) {
				s, addr, conns := startAccept(t, append([]Option{WithBackend(b)}, tc.opts...)...)
				peer := dialTCP(t, addr)
				c := recvConn(t, conns)
				src, feeder := goSource(t)
				var data []byte
				got := make(chan []byte, 1)
				if tc.full {
					peer.SetReadBuffer(16 << 10)
					c.SetWriteBuffer(16 << 10)
					data = stream(16<<20, 4)
				} else {
					data = stream(part, 5)
					go slowRead(peer, part, got)
				}
				fed := feed(feeder, data, false)
				tc.stop(c, peer, src)
				start := time.Now()
				n, err := c.ReadFrom(src)
				took := time.Since(start)
				if !isOpErr(err) || !tc.want(err) {
					t.Fatalf("ReadFrom = %d, %v (%T); not the expected readfrom error", n, err, err)
				}
				if took > 5*time.Second {
					t.Errorf("ReadFrom took %v to stop", took)
				}
				if !tc.full {
					if n != part {
						t.Errorf("ReadFrom sent %d bytes before the source stopped, want the %d it yielded", n, part)
					}
					select {
					case recv := <-got:
						if !bytes.Equal(recv, data) {
							t.Errorf("peer got %d bytes, want the %d the source yielded", len(recv), part)
						}
					case <-time.After(10 * time.Second):
						t.Fatal("peer did not get what the source yielded within 10s")
					}
					if err := <-fed; err != nil {
						t.Fatal(err)
					}
					return
				}
				feeder.Close() // the feeder's write fails, and ends
				<-fed
				if n <= 0 || n >= int64(len(data)) {
					t.Errorf("ReadFrom sent %d bytes: want part of the stream", n)
				}
				if b == BackendStd || tc.name != "deadline" && tc.name != "timeout" {
					return // BackendStd has no registration to look at
				}
				// The connection is still open, and what ReadFrom says it
				// sent is what the peer gets. Once the peer has read it,
				// the socket has room: no event may fire for it while
				// nothing is queued and nobody waits.
				c.SetWriteDeadline(time.Time{})
				peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				recv, err := io.ReadAll(io.LimitReader(peer, n))
				if err != nil || !bytes.Equal(recv, data[:n]) {
					t.Fatalf("peer reading the %d bytes sent: %v, or other bytes", n, err)
				}
				if d := idleWaits(s, 20*time.Millisecond, 100*time.Millisecond); d > 20 {
					t.Errorf("%d waits in 100 ms on an idle server after ReadFrom's timeout: EPOLLOUT left armed", d)
				}
			})
		}
	}
}

// TestReadFromSpliceRefusesEarly: on a connection that cannot take
// bytes (closed, write side shut, write deadline passed) ReadFrom from a
// socket fails before it reads the source: the source still holds
// every byte.
func TestReadFromSpliceRefusesEarly(t *testing.T) {
	cases := []struct {
		name string
		prep func(c *Conn)
		want error
	}{
		{"closed", func(c *Conn) { c.Close() }, net.ErrClosed},
		{"write shut", func(c *Conn) { c.CloseWrite() }, ErrWriteShutdown},
		{"deadline passed", func(c *Conn) { c.SetWriteDeadline(time.Now().Add(-time.Second)) }, os.ErrDeadlineExceeded},
	}
	for _, b := range testBackends(true) {
		for _, tc := range cases {
			t.Run(b.String()+"/"+tc.name, func(t *testing.T) {
				_, addr, conns := startAccept(t, WithBackend(b))
				dialTCP(t, addr)
				c := recvConn(t, conns)
				src, feeder := goSource(t)
				data := stream(1000, 6)
				if err := <-feed(feeder, data, true); err != nil {
					t.Fatal(err)
				}
				tc.prep(c)
				n, err := c.ReadFrom(src)
				if n != 0 || !errors.Is(err, tc.want) {
					t.Fatalf("ReadFrom = %d, %v; want 0, %v", n, err, tc.want)
				}
				src.SetReadDeadline(time.Now().Add(5 * time.Second))
				if rest, err := io.ReadAll(src); err != nil || !bytes.Equal(rest, data) {
					t.Fatalf("the source after the refused ReadFrom holds %d bytes (%v), want its %d", len(rest), err, len(data))
				}
			})
		}
	}
}

// TestReadFromSpliceHandler: a handler that copies from an upstream
// socket of Go's net with io.Copy waits inside ReadFrom for the
// upstream; the poller's duty passes on meanwhile, so other connections
// of the same poller keep being served, and what the upstream sends
// later arrives whole.
func TestReadFromSpliceHandler(t *testing.T) {
	skipInline(t)
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			src, feeder := goSource(t)
			data := stream(1<<20, 7)
			h := func(c *Conn) error {
				r := c.Reader()
				line, err := r.Next(r.Len())
				if err != nil {
					return err
				}
				if string(line) != "proxy" {
					w := c.Writer()
					w.WriteBinary(line)
					r.Release()
					return w.Flush()
				}
				r.Release()
				c.SetWriteDeadline(time.Now().Add(20 * time.Second))
				src.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, err = io.Copy(c, src)
				return err
			}
			opts := []Option{WithBackend(b)}
			if b != BackendStd {
				opts = append(opts, WithPollers(1)) // the echo shares the proxy's poller
			}
			s, addr := startServer(t, h, opts...)
			down := dialTCP(t, addr)
			if _, err := down.Write([]byte("proxy")); err != nil {
				t.Fatal(err)
			}
			// The upstream sends nothing for its first second: until then
			// the handler waits in ReadFrom for it, and the echoes must be
			// served meanwhile.
			const stalled = time.Second
			start := time.Now()
			got := make(chan []byte, 1)
			go slowRead(down, len(data), got)
			echo := dialTCP(t, addr)
			echo.SetDeadline(start.Add(stalled))
			p := make([]byte, 8)
			for i := range 20 {
				msg := []byte("ping" + strconv.Itoa(1000+i))
				if _, err := echo.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(echo, p[:len(msg)]); err != nil {
					t.Fatalf("echo %d while a handler waits for its upstream: %v (%v after the start)", i, err, time.Since(start))
				}
			}
			time.Sleep(time.Until(start.Add(stalled)))
			fed := feed(feeder, data, true)
			select {
			case recv := <-got:
				if !bytes.Equal(recv, data) {
					t.Fatalf("downstream got %d bytes, not the upstream's %d", len(recv), len(data))
				}
			case <-time.After(30 * time.Second):
				t.Fatal("downstream did not get the upstream's bytes within 30s")
			}
			if err := <-fed; err != nil {
				t.Fatal(err)
			}
			if n := s.Stats().Splices; (n > 0) != (b != BackendStd) {
				t.Errorf("backend %v: Splices = %d after io.Copy from a socket", b, n)
			}
		})
	}
}

// TestReadFromSpliceUnix: a stream *net.UnixConn is spliced from as a
// TCP one is, and a datagram one ("unixgram") is copied.
func TestReadFromSpliceUnix(t *testing.T) {
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) {
			s, addr, conns := startAccept(t, WithBackend(b))
			peer := dialTCP(t, addr)
			c := recvConn(t, conns)
			c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			path := t.TempDir() + "/s"
			ln, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			fc, err := net.Dial("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			defer fc.Close()
			sc, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			data := stream(1<<20, 8)
			go func() {
				fc.Write(data)
				fc.(*net.UnixConn).CloseWrite()
			}()
			got := make(chan []byte, 1)
			go slowRead(peer, len(data), got)
			if n, err := c.ReadFrom(sc); err != nil || n != int64(len(data)) {
				t.Fatalf("ReadFrom(*net.UnixConn) = %d, %v; want %d, nil", n, err, len(data))
			}
			received(t, got, data)
			if s.Stats().Splices == 0 {
				t.Error("Splices = 0 after ReadFrom from a unix stream socket")
			}

			// A datagram socket: each Read is one datagram, so it is
			// copied (splice would join them).
			gpath := t.TempDir() + "/g"
			gl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: gpath, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer gl.Close()
			if goSocket(gl) {
				t.Error("goSocket(unixgram conn) = true: datagrams are not a stream to splice")
			}
			if !goSocket(sc) || !goSocket(fc) {
				t.Errorf("goSocket of a unix stream conn: accepted %v, dialed %v; want true", goSocket(sc), goSocket(fc))
			}
		})
	}
}
