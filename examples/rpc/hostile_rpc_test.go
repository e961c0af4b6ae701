package main

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestHostileRPCPartialFramesBudget: hostile peers each announce a
// frame of DefaultMaxFrame (4 MiB, accepted) and send all of it but the
// last byte, then hold the connection open. The RPC server's handler
// waits in Reader.Slice for the rest. The server runs with the default
// buffer budget (8 MiB here: no memory limit is set). A reader waiting
// for the rest of a message is exempt from the budget within what it
// asks for (netpoll's Config.BufferBudget): four such peers may make the
// server hold its budget plus their four frames, and no more.
func TestHostileRPCPartialFramesBudget(t *testing.T) {
	const peers = 4
	for _, backend := range []string{"epoll", "std", "uring"} {
		t.Run(backend, func(t *testing.T) {
			t.Setenv("UPOLL", "backend="+backend)
			s, addr, err := startServer("127.0.0.1:0", DefaultMaxFrame)
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(s)
			budget := s.Config().BufferBudget
			limit := budget + peers*(HeaderLen+DefaultMaxFrame)
			frame := make([]byte, HeaderLen+DefaultMaxFrame-1)
			binary.BigEndian.PutUint32(frame, DefaultMaxFrame)
			frame[HeaderLen] = OpEcho
			var wg sync.WaitGroup
			conns := make([]net.Conn, 0, peers)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
				wg.Wait()
			}()
			for range peers {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					c.Write(frame) // all but the frame's last byte
				}()
			}
			var worst int64
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				st := s.Stats()
				if b := st.BufferedIn + st.BufferedOut; b > worst {
					worst = b
				}
				if worst > limit {
					break // conclusive
				}
			}
			t.Logf("budget %d; most buffered %d (%d peers, each one byte short of a frame's end)",
				budget, worst, peers)
			if worst > limit {
				t.Fatalf("the server buffered %d bytes for %d half-sent frames, over its BufferBudget %d plus the frames",
					worst, peers, budget)
			}
		})
	}
}

// TestHostileRPCTrickleReadTimeout: a peer announces a 1 MiB frame
// and then trickles its body a byte every 20 ms, so that input never
// stops arriving. The RPC handler waits in Reader.Slice for the body.
// Contracts: examples/rpc/main.go:97-98 "The read timeout bounds how long
// a peer may leave a frame half sent while its handler waits for the
// rest"; netpoll/options.go:224 ReadTimeout "per blocking read wait". The
// server is the example's (startServer's handler and hooks) with a read
// timeout of 300 ms instead of 10 s: the connection must be closed
// within the timeout plus a margin however the bytes trickle, and what it
// held given back.
func TestHostileRPCTrickleReadTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, be := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		t.Run(be.String(), func(t *testing.T) {
			t.Setenv("UPOLL", "")
			s, err := netpoll.NewServer(handler(DefaultMaxFrame), netpoll.WithBackend(be),
				netpoll.WithReadTimeout(timeout), netpoll.WithOnConnect(serverOnConnect))
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.DialTimeout("tcp", serveTest(t, s), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			hdr := make([]byte, HeaderLen+1)
			binary.BigEndian.PutUint32(hdr, 1<<20)
			hdr[HeaderLen] = OpEcho
			start := time.Now()
			if _, err := c.Write(hdr); err != nil {
				t.Fatal(err)
			}
			closed := make(chan time.Duration, 1)
			go func() {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				var b [1]byte
				c.Read(b[:]) // the server's close (EOF) or the deadline
				closed <- time.Since(start)
			}()
			sent := 0
			var took time.Duration
		trickle:
			for i := 0; i < 200; i++ { // 4 s at most
				select {
				case took = <-closed:
					break trickle
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := c.Write([]byte{'x'}); err != nil {
					took = <-closed
					break
				}
				sent++
			}
			t.Logf("closed after %v, %d bytes trickled", took, sent)
			if took == 0 || took > timeout+time.Second {
				t.Fatalf("a trickled half frame kept the connection for %v, read timeout %v", took, timeout)
			}
			for end := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				st := s.Stats()
				if st.LiveConns == 0 && st.BufferedIn == 0 {
					break
				}
				if time.Now().After(end) {
					t.Fatalf("after the close: %d live connections, %d bytes of input held", st.LiveConns, st.BufferedIn)
				}
			}
		})
	}
}

// TestHostileRPCNeverReadsWriteTimeout: a peer that sends requests and
// never reads their answers. The example's server (newServer) has a
// write timeout: the handler's Flush, waiting for the peer to take
// output, fails once it passes, and the connection closes with what it
// held given back. The server's own timeout is 10 s; the run here uses
// 300 ms (an option given after newServer's own).
func TestHostileRPCNeverReadsWriteTimeout(t *testing.T) {
	t.Setenv("UPOLL", "")
	s0, err := newServer(DefaultMaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	if got := s0.Config().WriteTimeout; got != serverTimeout {
		t.Errorf("newServer's write timeout = %v, want %v", got, serverTimeout)
	}
	s0.Close()
	const timeout = 300 * time.Millisecond
	for _, be := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		t.Run(be.String(), func(t *testing.T) {
			s, err := newServer(DefaultMaxFrame, netpoll.WithBackend(be), netpoll.WithWriteTimeout(timeout))
			if err != nil {
				t.Fatal(err)
			}
			c, err := net.DialTimeout("tcp", serveTest(t, s), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.(*net.TCPConn).SetReadBuffer(4 << 10) // a small window: the answers back up soon
			// Echo requests of 64 KiB, written until the server stops
			// taking them (its handler waits in Flush) or closes; never
			// a read.
			frame := make([]byte, HeaderLen+1+64<<10)
			binary.BigEndian.PutUint32(frame, uint32(len(frame)-HeaderLen))
			frame[HeaderLen] = OpEcho
			wrote := make(chan int, 1)
			go func() {
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				n := 0
				for ; n < 512; n++ { // 32 MiB at most
					if _, err := c.Write(frame); err != nil {
						break
					}
				}
				wrote <- n
			}()
			for end := time.Now().Add(5 * time.Second); s.Stats().BytesIn == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(end) {
					t.Fatal("the server read nothing in 5 s")
				}
			}
			// The server stops reading once its handler waits: from
			// then on, the write timeout plus a margin for the close.
			start := time.Now()
			for end := start.Add(timeout + 5*time.Second); ; time.Sleep(10 * time.Millisecond) {
				st := s.Stats()
				if st.LiveConns == 0 && st.BufferedIn == 0 && st.BufferedOut == 0 {
					break
				}
				if time.Now().After(end) {
					t.Fatalf("a peer that never reads still holds its connection after %v: %d live, %d bytes in, %d out (write timeout %v)",
						time.Since(start), st.LiveConns, st.BufferedIn, st.BufferedOut, timeout)
				}
			}
			t.Logf("closed after %v", time.Since(start))
			c.Close()
			if n := <-wrote; n == 512 {
				t.Errorf("the server took all 32 MiB of requests from a peer that reads no answer")
			}
		})
	}
}

// serveTest serves s on a loopback port until the test ends (Shutdown,
// then Close) and returns its address.
func serveTest(t *testing.T, s *netpoll.Server) string {
	t.Helper()
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { shutdown(s); s.Close() })
	return ln.Addr().String()
}
