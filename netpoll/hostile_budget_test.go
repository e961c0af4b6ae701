package netpoll

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"
)

// hostileFrameHandler is the usual non-blocking parser of length-prefixed
// frames: it answers every complete frame buffered and returns, leaving
// a partial one buffered until more arrives.
func hostileFrameHandler(c *Conn) error {
	r, w := c.Reader(), c.Writer()
	for r.Len() >= 4 {
		hdr, err := r.Peek(4)
		if err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr))
		if r.Len() < 4+n {
			break // wait for the rest
		}
		b, err := r.Next(4 + n)
		if err != nil {
			return err
		}
		w.WriteBinary(b)
	}
	r.Release()
	return w.Flush()
}

// TestHostilePartialFramesBudget: many peers each send a length
// prefix announcing 1 GiB and then bytes without pause; the handler (the
// non-blocking frame parser, which returns leaving the partial frame
// buffered) never finds a whole frame. Each connection stops at its
// MaxInput; together they stay within the Server's budget plus, for each
// connection waiting for the rest of a message, its own bound
// (Config.BufferBudget).
func TestHostilePartialFramesBudget(t *testing.T) {
	const (
		maxIn  = 128 << 10
		budget = 1 << 20
		peers  = 24 // 24 * 128 KiB = 3 MiB of partial frames
	)
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			s, addr := startServer(t, hostileFrameHandler, WithBackend(be),
				WithMaxInput(maxIn), WithMaxOutput(maxIn), WithBufferBudget(budget))
			var wg sync.WaitGroup
			conns := make([]net.Conn, 0, peers)
			defer func() {
				for _, c := range conns {
					c.Close()
				}
				wg.Wait()
			}()
			payload := make([]byte, 1<<20)
			binary.BigEndian.PutUint32(payload, 1<<30)
			for range peers {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.SetWriteDeadline(time.Now().Add(4 * time.Second))
					c.Write(payload) // blocks once the server stops reading
				}()
			}
			var worst int64
			var st Stats
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
				st = s.Stats()
				if b := st.BufferedIn + st.BufferedOut; b > worst {
					worst = b
				}
				if worst > 2*budget {
					break // conclusive
				}
			}
			t.Logf("budget %d, MaxInput %d, %d peers: most buffered %d (paused by bound %d, by budget %d)",
				budget, maxIn, peers, worst, st.PausedByBound, st.PausedByBudget)
			// Each waits for the rest of its frame: exempt from the
			// budget within its MaxInput (Config.BufferBudget).
			if limit := int64(budget + peers*maxIn); worst > limit {
				t.Fatalf("the server buffered %d bytes of partial frames, over its BufferBudget %d plus %d peers' MaxInput %d",
					worst, budget, peers, maxIn)
			}
		})
	}
}

// TestHostileEchoFloodBudget: peers that send without pause and
// never read, against the echo handler, which consumes all its input
// and then waits in Flush. budget.go:33-42: "From half the limit on, a
// poller reads a connection only up to its share of that half ... so the
// sum stays within the limit (give or take a read per connection, and
// minReadSize per connection when there are more connections than the
// limit has such reads)". The test holds the Server to the budget plus
// one read per connection (minReadSize: each connection's share here is
// below it, so a read is minReadSize at most) plus one publish grain per
// poller (the total the budget looks at lags the sum by that much):
// echoFlood.
func TestHostileEchoFloodBudget(t *testing.T) {
	echoFlood(t, func(t *testing.T, s *Server, addr string, limit int64, f *flooders) {
		chunk := make([]byte, 64<<10)
		for range floodPeers {
			f.add(t, addr, chunk, 128, 3*time.Second) // 8 MiB at most; stops when the kernel is full
		}
		var worst int64
		var st Stats
		for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			st = s.Stats()
			if b := st.BufferedIn + st.BufferedOut; b > worst {
				worst = b
			}
		}
		t.Logf("budget %d (limit with slack %d), %d peers: most buffered %d; read %d, paused by budget %d, by bound %d",
			floodBudget, limit, floodPeers, worst, st.BytesIn, st.PausedByBudget, st.PausedByBound)
		if st.BytesIn < 2*floodBudget {
			t.Fatalf("the server read only %d bytes: the flood did not press the budget", st.BytesIn)
		}
		if worst > limit {
			t.Fatalf("the server buffered %d bytes, over its BufferBudget %d plus a read per connection (%d)",
				worst, floodBudget, limit)
		}
	})
}
