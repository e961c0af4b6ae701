package netpoll

import (
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestBudgetResumesPartialMessage: a connection that the budget paused
// while its handler ran, and whose handler then returned leaving a
// partial message buffered, waits for the rest of a message, which the
// budget does not limit (Config.BufferBudget): it resumes as the handler
// returns, not at the budget's next sweep. The sweep is put off for an
// hour here, so the message completes only if the return resumes it.
//
// Under one-shot triggering (UPOLL=trigger=oneshot) the connection is
// not read while its handler runs, so nothing is paused: the test checks
// that instead, and that the message is answered.
//
// Native backends only: under BackendStd the connection's goroutine runs
// the handler and reads in turn, so the budget cannot pause it while its
// handler runs.
func TestBudgetResumesPartialMessage(t *testing.T) {
	skipInline(t) // its handler waits for the rest of a message
	sweepPeriod = time.Hour
	t.Cleanup(func() { sweepPeriod = 20 * time.Millisecond })
	const (
		budget  = 256 << 10 // soft mark 128 KiB
		hogs    = 5         // 32 KiB each: past the soft mark
		frame   = 80 << 10  // the message the watched connection sends
		partial = 48 << 10  // its first part: above its share (128 KiB / 6)
	)
	cfg, err := buildConfig(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	oneShot := cfg.Trigger == OneShot
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			hold := make(chan struct{})    // the hogs' handlers wait on it
			gate := make(chan struct{})    // the watched handler's first run waits on it
			waiting := make(chan struct{}) // closed as it begins to wait
			var watched atomic.Pointer[Conn]
			// The handler of the watched connection keeps the length of
			// the message it waits for in the connection's context, as a
			// streaming parser does: once it knows it, a run that finds
			// too few bytes returns after a look at Len, no Reader call
			// (a Reader call would resume the connection, see consumed).
			h := func(c *Conn) error {
				r := c.Reader()
				if need, ok := c.Context().(int); ok {
					if r.Len() < need {
						return nil // the rest of the message is to come
					}
					r.Skip(need)
					r.Release()
					c.SetContext(nil)
					c.Writer().WriteBinary([]byte{'!'})
					return c.Writer().Flush()
				}
				first, err := r.Peek(1)
				if err != nil {
					return err
				}
				if first[0] == 'H' {
					<-hold // holds its input, running: the budget limits it
					return nil
				}
				if r.Len() < 5 {
					return nil
				}
				hdr, err := r.Peek(5)
				if err != nil {
					return err
				}
				c.SetContext(5 + int(binary.BigEndian.Uint32(hdr[1:])))
				if watched.CompareAndSwap(nil, c) {
					// It waits (a lock, a call elsewhere); input arrives
					// and is paused meanwhile.
					close(waiting)
					<-gate
				}
				return nil // it looks again at the next run
			}
			_, addr := startServer(t, h, WithBackend(be), WithPollers(1), WithBufferBudget(budget),
				WithMaxInput(96<<10), WithMaxOutput(32<<10))
			t.Cleanup(func() { close(hold) })
			var peers []net.Conn
			t.Cleanup(func() {
				for _, c := range peers {
					c.Close()
				}
			})
			for range hogs {
				c := dialTCP(t, addr)
				peers = append(peers, c)
				p := make([]byte, 32<<10)
				p[0] = 'H'
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(p); err != nil {
					t.Fatal(err)
				}
			}
			x := dialTCP(t, addr)
			peers = append(peers, x)
			msg := make([]byte, 5+frame)
			msg[0] = 'X'
			binary.BigEndian.PutUint32(msg[1:], frame)
			x.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := x.Write(msg[:5]); err != nil { // the header
				t.Fatal(err)
			}
			testutil.Receive(t, waiting, 5*time.Second, "the watched handler to read the header")
			if _, err := x.Write(msg[5:partial]); err != nil { // a part of the rest
				t.Fatal(err)
			}
			if oneShot {
				// One-shot triggering re-arms a connection only as its
				// handler returns: the part stays in the kernel while the
				// handler waits, and the budget has nothing to pause.
				c := watched.Load()
				time.Sleep(100 * time.Millisecond)
				if n := c.in.Len(); n > 5 {
					t.Fatalf("one-shot: %d bytes read while the handler ran; want the header's 5 only", n)
				}
			} else if !testutil.WaitFor(5*time.Second, func() bool {
				c := watched.Load()
				return c != nil && c.flags.Load()&fBudgetPaused != 0
			}) {
				t.Fatal("the budget did not pause the watched connection while its handler ran")
			}
			close(gate) // its handler returns, the message incomplete
			go x.Write(msg[partial:])
			reply := make([]byte, 1)
			if _, err := io.ReadFull(x, reply); err != nil {
				t.Fatalf("no answer to the message (the connection stayed paused by the budget): %v", err)
			}
		})
	}
}
