package netpoll

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestReview6ReadFromWriteTimeoutSteadyPeer: WriteTimeout bounds each
// blocking write wait, and ReadFrom waits for room "as Write does":
// 2 MiB from a file (sendfile) or from one of Go's sockets (splice) to
// a peer that reads 16 KiB every 10 ms (about 1.4 s in all) must pass
// under a 600 ms write timeout, as a Write of the same bytes does
// (TestWriteTimeoutSteadyPeer). A step of output (64 KiB, the
// MaxOutput) takes the peer about 40 ms: the margin is for a loaded
// machine under -race (with 20 ms, one CI run saw a step take 300 ms;
// with 300 ms, a full run beside the netpoll suite saw the first wait
// for room time out once, under io_uring's Write). A lost wake-up
// still fails it: no step would ever come.
func TestReview6ReadFromWriteTimeoutSteadyPeer(t *testing.T) {
	const size = 2 << 20
	for _, b := range testBackends(true) {
		for _, how := range []string{"Write", "file", "socket"} {
			t.Run(b.String()+"/"+how, func(t *testing.T) {
				_, addr, conns := startAccept(t, WithBackend(b), WithWriteTimeout(600*time.Millisecond), WithMaxOutput(64<<10))
				cl := dialTCP(t, addr)
				cl.SetReadBuffer(16 << 10)
				sc := recvConn(t, conns)
				sc.SetWriteBuffer(16 << 10)
				defer sc.Close()
				stop := make(chan struct{})
				defer close(stop)
				read := make(chan int, 1)
				go func() {
					buf := make([]byte, 16<<10)
					total := 0
					defer func() { read <- total }()
					for i := 0; i < 1000 && total < size; i++ {
						select {
						case <-stop:
							return
						case <-time.After(10 * time.Millisecond):
						}
						cl.SetReadDeadline(time.Now().Add(2 * time.Second))
						n, err := cl.Read(buf)
						total += n
						if err != nil {
							return
						}
					}
				}()
				data := stream(size, 6)
				start := time.Now()
				n, err := sendVia(t, sc, how, data)
				if err != nil || n != size {
					t.Fatalf("%s of %d bytes to a peer reading steadily under a 600 ms WriteTimeout: %d, %v after %v", how, size, n, err, time.Since(start))
				}
				select {
				case got := <-read:
					if got != size {
						t.Fatalf("peer read %d bytes, want %d", got, size)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("peer did not read the bytes within 10s")
				}
			})
		}
	}
}

// TestReview6ReadFromFailedSourceKeepsConn: a ReadFrom whose source
// fails fails with the source's error, as *net.TCPConn's does, and
// leaves the connection as it was: the source failed, not the socket.
// Two sources: a file opened write-only (sendfile fails with EBADF) and
// one of Go's sockets that its peer resets after 1000 bytes (splice
// fails with ECONNRESET). A Write and a Writer's Flush after it reach
// the peer, and the peer's bytes are read, as on Go's conn.
func TestReview6ReadFromFailedSourceKeepsConn(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	try := func(t *testing.T, source string, c net.Conn, peer net.Conn) {
		var n int64
		var err error
		peer.SetDeadline(time.Now().Add(5 * time.Second))
		switch source {
		case "file":
			f, ferr := os.OpenFile(name, os.O_WRONLY, 0)
			if ferr != nil {
				t.Fatal(ferr)
			}
			defer f.Close()
			n, err = c.(io.ReaderFrom).ReadFrom(f)
			if err == nil || n != 0 {
				t.Fatalf("ReadFrom(write-only file) = %d, %v; want 0 and an error", n, err)
			}
		case "socket":
			src, feeder := goSource(t)
			if _, err := feeder.Write(make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			reset := time.AfterFunc(100*time.Millisecond, func() { feeder.SetLinger(0); feeder.Close() })
			defer reset.Stop()
			src.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err = c.(io.ReaderFrom).ReadFrom(src)
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) || n != 1000 {
				t.Fatalf("ReadFrom(reset socket) = %d, %v; want 1000 and the reset", n, err)
			}
			if _, err := io.ReadFull(peer, make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("ReadFrom: %v", err)
		if _, err := c.Write([]byte("after")); err != nil {
			t.Fatalf("Write after a ReadFrom whose file failed: %v", err)
		}
		if uc, ok := c.(*Conn); ok {
			w := uc.Writer()
			if _, err := w.WriteString("flush"); err != nil {
				t.Fatalf("WriteString after a ReadFrom whose file failed: %v", err)
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush after a ReadFrom whose file failed: %v", err)
			}
		} else if _, err := c.Write([]byte("flush")); err != nil {
			t.Fatal(err)
		}
		peer.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 10)
		if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "afterflush" {
			t.Fatalf("peer read %q, %v; want \"afterflush\"", buf, err)
		}
		if _, err := peer.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:4]) != "ping" {
			t.Fatalf("Read after a ReadFrom whose file failed = %q, %v; want \"ping\"", buf[:4], err)
		}
	}
	t.Run("go", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		peer := dialTCP(t, ln.Addr().String())
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, source := range []string{"file", "socket"} {
			t.Run(source, func(t *testing.T) { try(t, source, c, peer) })
		}
	})
	for _, b := range testBackends(true) {
		for _, source := range []string{"file", "socket"} {
			t.Run(b.String()+"/"+source, func(t *testing.T) {
				_, addr, conns := startAccept(t, WithBackend(b))
				peer := dialTCP(t, addr)
				c := recvConn(t, conns)
				defer c.Close()
				try(t, source, c, peer)
			})
		}
	}
}

// TestReview6CloseWriteDuringBlockedWrite: a CloseWrite from another
// goroutine while a write waits for room (a 16 MiB Write, a Writer's
// Flush, a ReadFrom of a 16 MiB file or of a socket's 16 MiB) to a peer that reads nothing
// returns at once on Go's net, and the write fails with EPIPE; the
// connection still reads, and the peer, once it reads, sees the end. On
// every backend CloseWrite waited for the write, which waited for good.
func TestReview6CloseWriteDuringBlockedWrite(t *testing.T) {
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, make([]byte, 16<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	try := func(t *testing.T, how string, c net.Conn, peer *net.TCPConn) {
		var src *net.TCPConn
		if how == "socket" {
			var feeder *net.TCPConn
			src, feeder = goSource(t)
			feed(feeder, make([]byte, 16<<20), false)
		}
		done := make(chan error, 1)
		go func() {
			var err error
			switch how {
			case "socket":
				_, err = c.(io.ReaderFrom).ReadFrom(src)
			case "file":
				f, ferr := os.Open(name)
				if ferr != nil {
					done <- ferr
					return
				}
				defer f.Close()
				_, err = c.(io.ReaderFrom).ReadFrom(f)
			case "write":
				_, err = c.Write(make([]byte, 16<<20))
			case "flush":
				w := c.(*Conn).Writer()
				if _, err = w.WriteBinary(make([]byte, 16<<20)); err == nil {
					err = w.Flush()
				}
			}
			done <- err
		}()
		time.Sleep(200 * time.Millisecond) // the write waits for room
		closed := make(chan error, 1)
		go func() { closed <- c.(interface{ CloseWrite() error }).CloseWrite() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("CloseWrite: %v", err)
			}
		case <-time.After(2 * time.Second):
			c.Close()
			<-closed
			<-done
			t.Fatal("CloseWrite during a blocked write did not return in 2 s")
		}
		select {
		case err := <-done:
			if !errors.Is(err, syscall.EPIPE) {
				t.Errorf("the blocked %s after CloseWrite: %v; want EPIPE", how, err)
			}
		case <-time.After(2 * time.Second):
			c.Close()
			<-done
			t.Fatalf("the blocked %s did not end 2 s after CloseWrite", how)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Errorf("Write after CloseWrite: %v; want EPIPE", err)
		}
		peer.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := peer.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Errorf("Read after CloseWrite = %q, %v; want \"ping\"", buf, err)
		}
		if _, err := io.Copy(io.Discard, peer); err != nil {
			t.Errorf("peer reading to the end: %v", err)
		}
	}
	for _, how := range []string{"write", "flush", "file", "socket"} {
		if how != "flush" {
			t.Run("go/"+how, func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				peer := dialTCP(t, ln.Addr().String())
				peer.SetReadBuffer(16 << 10)
				c, err := ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.(*net.TCPConn).SetWriteBuffer(16 << 10)
				try(t, how, c, peer)
			})
		}
		for _, b := range testBackends(true) {
			t.Run(b.String()+"/"+how, func(t *testing.T) {
				_, addr, conns := startAccept(t, WithBackend(b))
				peer := dialTCP(t, addr)
				peer.SetReadBuffer(16 << 10)
				c := recvConn(t, conns)
				defer c.Close()
				c.SetWriteBuffer(16 << 10)
				try(t, how, c, peer)
			})
		}
	}
}

// sendVia sends data on sc as how says: "Write", or ReadFrom from a
// file holding it ("file": sendfile) or from one of Go's sockets fed
// with it ("socket": splice).
func sendVia(t *testing.T, sc *Conn, how string, data []byte) (int64, error) {
	t.Helper()
	switch how {
	case "Write":
		m, err := sc.Write(data)
		return int64(m), err
	case "file":
		return sc.ReadFrom(fileOf(t, data))
	case "socket":
		src, feeder := goSource(t)
		fed := feed(feeder, data, true)
		n, err := sc.ReadFrom(src)
		if ferr := <-fed; ferr != nil {
			t.Errorf("feed: %v", ferr)
		}
		return n, err
	}
	t.Fatalf("sendVia: no way %q", how)
	return 0, nil
}
