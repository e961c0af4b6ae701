package reliability

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// TestNeverReadingPeer has peers that send one byte and never read
// while the server writes as fast as it can. Output per connection is
// bounded: Flush blocks above WithMaxOutput and fails with a timeout
// error after WithWriteTimeout, so the heap stays within bound x conns
// and every connection is closed.
func TestNeverReadingPeer(t *testing.T) {
	skipInline(t)
	const (
		conns     = 50
		maxOutput = 256 << 10
		chunk     = 64 << 10
		wtimeout  = time.Second
	)
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			checkLeaks(t)
			var (
				blocked atomic.Int32
				errs    = make(chan error, conns)
			)
			payload := make([]byte, chunk)
			n := startNative(t, func(c *netpoll.Conn) error {
				r, w := c.Reader(), c.Writer()
				r.Skip(r.Len())
				r.Release()
				sent := 0
				for range 1 << 14 { // 1 GiB at most: the bound must stop it long before
					if _, err := w.WriteBinary(payload); err != nil {
						errs <- err
						return err
					}
					if sent += chunk; sent == 2*maxOutput {
						blocked.Add(1) // from here on, Flush must be blocking
					}
					if err := w.Flush(); err != nil {
						errs <- err
						return err
					}
				}
				errs <- errors.New("1 GiB flushed to a peer that never reads")
				return nil
			}, withTrigger(trig), netpoll.WithMaxOutput(maxOutput), netpoll.WithWriteTimeout(wtimeout))
			before := testutil.HeapInUse()
			for range conns {
				c, err := dialSmallRcvbuf(n.addr, 4<<10)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Write([]byte{1}); err != nil {
					t.Fatal(err)
				}
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return blocked.Load() == conns }) {
				t.Fatalf("only %d of %d handlers got %d B past the bound", blocked.Load(), conns, maxOutput)
			}
			peak := testutil.HeapInUse() - before
			bound := int64(conns) * (maxOutput + 2*chunk)
			t.Logf("heap growth with %d conns stalled: %d KiB (bound %d KiB)", conns, peak>>10, bound>>10)
			if peak > bound+8<<20 {
				t.Errorf("heap grew %d KiB with %d stalled conns, bound x conns is %d KiB", peak>>10, conns, bound>>10)
			}
			for i := range conns {
				select {
				case err := <-errs:
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						t.Errorf("handler %d: %v, want a write timeout", i, err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("only %d of %d handlers returned", i, conns)
				}
			}
			waitReclaimed(t, n, conns, func(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) })
		})
	}
}

// TestNeverReadingPeerHTTP does the same against http.Server on the
// adapter: Write (and ResponseWriter's) blocks while the kernel is
// full, http.Server's WriteTimeout makes it fail, and heap stays low.
func TestNeverReadingPeerHTTP(t *testing.T) {
	checkLeaks(t)
	const conns, chunk = 50, 64 << 10
	errs := make(chan error, conns)
	payload := make([]byte, chunk)
	var started atomic.Int32
	e := startHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started.Add(1)
		for range 1 << 14 {
			if _, err := w.Write(payload); err != nil {
				errs <- err
				return
			}
		}
		errs <- errors.New("1 GiB written to a peer that never reads")
	}), func(s *http.Server) { s.WriteTimeout = time.Second })
	before := testutil.HeapInUse()
	for range conns {
		c, err := dialSmallRcvbuf(e.addr, 4<<10)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return started.Load() == conns }) {
		t.Fatalf("only %d of %d handlers started", started.Load(), conns)
	}
	time.Sleep(300 * time.Millisecond) // let every writer fill its socket
	peak := testutil.HeapInUse() - before
	t.Logf("heap growth with %d stalled HTTP responses: %d KiB", conns, peak>>10)
	if bound := int64(conns) * 256 << 10; peak > bound {
		t.Errorf("heap grew %d KiB, more than %d KiB", peak>>10, bound>>10)
	}
	for i := range conns {
		select {
		case err := <-errs:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("handler %d: %v, want a write timeout", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d handlers returned", i, conns)
		}
	}
}

// TestEndlessWriter has peers that write without pause to handlers that
// are stuck. The server stops reading at WithMaxInput per connection
// (BytesIn stays within bound x conns, and so does the heap); once the
// handlers drain, reading resumes and every byte sent is delivered.
func TestEndlessWriter(t *testing.T) {
	skipInline(t)
	skipStdBackend(t, "it waits for input to stall at the read-ahead bound, and BackendStd reads only when a reader asks")
	const (
		conns    = 20
		maxInput = 256 << 10
		readMax  = 64 << 10 // the poller's largest single read
		perConn  = 4 << 20
	)
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			checkLeaks(t)
			gate := make(chan struct{})
			var mu sync.Mutex
			got := map[string]int{}              // remote addr -> bytes consumed
			sconns := map[string]*netpoll.Conn{} // remote addr -> server side
			n := startNative(t, func(c *netpoll.Conn) error {
				select { // stuck until the test opens the gate, or gives up
				case <-gate:
				case <-time.After(2 * time.Minute):
					return errors.New("gate never opened")
				}
				r := c.Reader()
				k := r.Len()
				if err := r.Skip(k); err != nil {
					return err
				}
				mu.Lock()
				got[c.RemoteAddr().String()] += k
				sconns[c.RemoteAddr().String()] = c
				mu.Unlock()
				return r.Release()
			}, withTrigger(trig), netpoll.WithMaxInput(maxInput),
				// A budget that never binds: this test is about the
				// per-connection bound (the budget has tests of its own).
				netpoll.WithBufferBudget(4*conns*maxInput))
			before := testutil.HeapInUse()
			type client struct {
				c    *net.TCPConn
				sent int
				done chan error
			}
			var cl []*client
			chunk := make([]byte, 64<<10)
			for range conns {
				c := &client{c: dial(t, n.addr), done: make(chan error, 1)}
				defer c.c.Close()
				cl = append(cl, c)
				go func() {
					c.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
					for c.sent < perConn {
						m, err := c.c.Write(chunk[:min(len(chunk), perConn-c.sent)])
						c.sent += m
						if err != nil {
							c.done <- err
							return
						}
					}
					c.done <- c.c.CloseWrite()
				}()
			}
			// The handlers are stuck: wait until input stops growing.
			// Level- and edge-triggered, each connection's buffer fills to
			// maxInput before reading stops, so less than conns x maxInput
			// means the stall was measured before it happened and the bound
			// proves nothing. One-shot re-arms a connection only after its
			// handler returns, so there reading stops after the first event
			// of each connection: at least a byte each.
			var in uint64
			floor := uint64(conns * maxInput)
			if trig == netpoll.OneShot {
				floor = conns
			}
			stalled := testutil.WaitFor(20*time.Second, func() bool {
				prev := in
				time.Sleep(100 * time.Millisecond)
				in = n.srv.Stats().BytesIn
				return in >= floor && in == prev
			})
			if !stalled {
				t.Fatalf("input never stalled at or above %d B: read %d B", floor, in)
			}
			bound := uint64(conns * (maxInput + readMax))
			heap := testutil.HeapInUse() - before
			t.Logf("stalled: server read %d KiB of %d KiB sent (bound %d KiB), heap +%d KiB",
				in>>10, conns*perConn>>10, bound>>10, heap>>10)
			if in > bound {
				t.Errorf("server read %d KiB with stuck handlers, bound x conns is %d KiB", in>>10, bound>>10)
			}
			if heap > int64(bound)+8<<20 {
				t.Errorf("heap grew %d KiB, bound x conns is %d KiB", heap>>10, bound>>10)
			}
			close(gate)
			for i, c := range cl {
				select {
				case err := <-c.done:
					if err != nil {
						t.Fatalf("client %d after %d B: %v", i, c.sent, err)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("client %d stuck after %d of %d B: reading did not resume", i, c.sent, perConn)
				}
				c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.c.Read(make([]byte, 1)); err != io.EOF {
					t.Errorf("client %d: %v, want EOF once the server consumed everything", i, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for i, c := range cl {
				if k := c.c.LocalAddr().String(); got[k] != perConn {
					// Say which side stalled: input waiting in the conn's
					// buffer means its handler was not run again; an empty
					// buffer means the poller stopped reading the socket.
					t.Errorf("client %d: server consumed %d B of %d; %d B buffered unread in the server conn; per poller: %+v",
						i, got[k], perConn, sconns[k].Reader().Len(), n.srv.Stats().PerPoller)
				}
			}
		})
	}
}
