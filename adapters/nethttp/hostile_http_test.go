package nethttp

import (
	"bytes"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestHostileEndlessHeaders: peers send a request line and then
// header lines without end (each up to 1 MiB, past http.Server's
// MaxHeaderBytes of 64 KiB) to an http.Server on the adapter. The adapter's
// connections are in accept mode, where docs/memory.md:12-13 bounds the
// unread input per connection by "`MaxInput`, the read-ahead"
// (DefaultReadAhead, 8 KiB, netpoll/options.go:179-183: "the poller reads
// at most this much ahead of Read"); net/http reads through a 4 KiB
// bufio.Reader, so no Read raises it. The input buffered by all the
// connections together must stay within peers x (read-ahead + one small
// read: a read is rounded up to 4 KiB, netpoll/conn_poll.go:134-136), and
// every peer must be answered or cut off.
func TestHostileEndlessHeaders(t *testing.T) {
	const (
		peers     = 40
		readAhead = netpoll.DefaultReadAhead
		oneRead   = 4 << 10
	)
	for _, be := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		t.Run(be.String(), func(t *testing.T) {
			t.Setenv("UPOLL", "")
			ln, err := Listen("tcp", "127.0.0.1:0", netpoll.WithBackend(be))
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
				MaxHeaderBytes: 64 << 10}
			served := make(chan struct{})
			go func() { srv.Serve(ln); close(served) }()
			defer func() { srv.Close(); <-served }()
			ns := Server(ln)

			line := bytes.Repeat([]byte("X-Hostile: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"), 64)
			var wg sync.WaitGroup
			var mu sync.Mutex
			cut := 0
			stop := make(chan struct{})
			for range peers {
				c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer c.Close()
					c.SetWriteDeadline(time.Now().Add(4 * time.Second))
					if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
						return
					}
					for sent := 0; sent < 1<<20; sent += len(line) {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := c.Write(line); err != nil {
							break // reset by the server
						}
					}
					// The server must have answered (431) or closed: not a timeout.
					c.SetReadDeadline(time.Now().Add(3 * time.Second))
					var b [64]byte
					_, err := c.Read(b[:])
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						return
					}
					mu.Lock()
					cut++
					mu.Unlock()
				}()
			}
			var worst int64
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
		sample:
			for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
				if b := ns.Stats().BufferedIn; b > worst {
					worst = b
				}
				select {
				case <-done:
					break sample
				default:
				}
			}
			close(stop)
			<-done
			limit := int64(peers * (readAhead + oneRead))
			t.Logf("%d peers, %d cut off; most input buffered %d (limit %d)", peers, cut, worst, limit)
			if worst > limit {
				t.Fatalf("%d bytes of header input buffered, over peers x (read-ahead + one read) = %d", worst, limit)
			}
			if cut < peers {
				t.Fatalf("only %d of %d peers were cut off after 1 MiB of headers", cut, peers)
			}
		})
	}
}
