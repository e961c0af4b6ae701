package netpoll

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestHostileUntilHandler: a line-oriented handler reads with
// Reader.Until('\n') while a peer sends bytes without a newline and
// without pause. Reader.Until's doc (netpoll/reader.go:26-31): "It waits
// for no more than the input bound (MaxInput): with that many bytes
// buffered and no delim among them it returns ErrInputFull ... so a peer
// that never sends delim cannot grow the buffer past the bound." The
// handler gets ErrInputFull and returns it (closing the connection); the
// input buffered meanwhile stays within MaxInput plus one read (reads are
// rounded up to minReadSize, netpoll/conn_poll.go:134-136). Handler mode,
// on every backend.
func TestHostileUntilHandler(t *testing.T) {
	skipInline(t) // its handler waits (in Flush, in Until)
	const maxIn = 32 << 10
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			type result struct {
				err  error
				held int
			}
			got := make(chan result, 4)
			h := func(c *Conn) error {
				r := c.Reader()
				_, err := r.Until('\n')
				if err != nil {
					select {
					case got <- result{err, r.Len()}:
					default:
					}
				}
				return err
			}
			s, addr := startServer(t, h, WithBackend(be), WithMaxInput(maxIn),
				WithReadTimeout(5*time.Second))
			peer := hostilePeer(t, addr)
			var wg sync.WaitGroup
			defer wg.Wait()
			defer peer.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				peer.SetWriteDeadline(time.Now().Add(3 * time.Second))
				chunk := make([]byte, 4<<10)
				for i := range chunk {
					chunk[i] = 'a'
				}
				for range 256 { // 1 MiB at most
					if _, err := peer.Write(chunk); err != nil {
						return
					}
				}
			}()
			var worst int64
			var res result
		wait:
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
				if b := s.Stats().BufferedIn; b > worst {
					worst = b
				}
				select {
				case res = <-got:
					break wait
				default:
				}
			}
			if b := s.Stats().BufferedIn; b > worst {
				worst = b
			}
			t.Logf("Until: %v with %d bytes buffered; most input seen in Stats %d (MaxInput %d)",
				res.err, res.held, worst, maxIn)
			if !errors.Is(res.err, ErrInputFull) {
				t.Fatalf("Until returned %v, want ErrInputFull", res.err)
			}
			if res.held < maxIn || res.held > maxIn+minReadSize {
				t.Fatalf("ErrInputFull with %d bytes buffered, want the bound %d (plus less than one read)", res.held, maxIn)
			}
			if worst > maxIn+minReadSize {
				t.Fatalf("%d bytes buffered without a newline, over MaxInput %d plus one read", worst, maxIn)
			}
		})
	}
}
