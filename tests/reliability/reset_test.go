package reliability

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// resetClose closes c with SO_LINGER 0: the kernel sends RST, not FIN.
func resetClose(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// TestResetMidStream resets (SO_LINGER 0) connections while their
// handler is blocked reading a frame that will never complete, and
// while their handler is writing a large response. Each handler must
// get a connection error promptly (not wait for its 10 s timeout), the
// server must drop every connection, and nothing may leak.
func TestResetMidStream(t *testing.T) {
	skipInline(t)
	const conns = 20
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			checkLeaks(t)
			type outcome struct {
				peer string // the client's address
				err  error
				at   time.Time
			}
			results := make(chan outcome, 2*conns)
			payload := make([]byte, 64<<10)
			n := startNative(t, func(c *netpoll.Conn) error {
				r, w := c.Reader(), c.Writer()
				op, err := r.ReadByte()
				if err != nil {
					return err
				}
				switch op {
				case 'r': // read a 1 MiB frame: the peer sends part and resets
					w.WriteByte('R') // tell this peer the handler is about to block
					if err = w.Flush(); err == nil {
						_, err = r.Next(1 << 20)
					}
				case 'w': // write 64 MiB: the peer reads a little and resets
					for range 1024 {
						if _, err = w.WriteBinary(payload); err != nil {
							break
						}
						if err = w.Flush(); err != nil {
							break
						}
					}
				}
				results <- outcome{c.RemoteAddr().String(), err, time.Now()}
				if err == nil {
					return errors.New("handler finished although its peer reset")
				}
				return err
			}, withTrigger(trig), netpoll.WithReadTimeout(10*time.Second), netpoll.WithWriteTimeout(10*time.Second))

			var wg sync.WaitGroup
			var mu sync.Mutex
			resetAt := map[string]time.Time{} // client address -> when it reset
			for i := range 2 * conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := dial(t, n.addr)
					c.SetDeadline(time.Now().Add(20 * time.Second))
					if i%2 == 0 {
						c.Write(append([]byte{'r'}, make([]byte, 300<<10)...))
						if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
							t.Errorf("conn %d: handler never started reading the frame: %v", i, err)
						}
						time.Sleep(50 * time.Millisecond) // let the server take the bytes in
					} else {
						c.Write([]byte{'w'})
						if _, err := io.ReadFull(c, make([]byte, 100<<10)); err != nil {
							t.Errorf("no response bytes before the reset: %v", err)
						}
					}
					mu.Lock()
					resetAt[c.LocalAddr().String()] = time.Now()
					mu.Unlock()
					resetClose(c)
				}()
			}
			testutil.WaitGroup(t, &wg, time.Minute, "the resetting clients")
			for range 2 * conns {
				select {
				case o := <-results:
					if o.err == nil || errors.Is(o.err, os.ErrDeadlineExceeded) {
						t.Errorf("handler of a reset conn returned %v", o.err)
					}
					if !errors.Is(o.err, syscall.ECONNRESET) && !errors.Is(o.err, syscall.EPIPE) && !errors.Is(o.err, net.ErrClosed) {
						t.Errorf("handler of a reset conn returned %v; want ECONNRESET, EPIPE or net.ErrClosed", o.err)
					}
					mu.Lock()
					at, ok := resetAt[o.peer]
					mu.Unlock()
					if !ok {
						t.Errorf("handler of %s returned %v, but that client never reset", o.peer, o.err)
					} else if d := o.at.Sub(at); d > 5*time.Second { // half the 10 s timeout it would otherwise hit
						t.Errorf("handler of %s noticed the reset %v after it", o.peer, d)
					}
				case <-time.After(15 * time.Second):
					t.Fatal("a handler of a reset conn did not return")
				}
			}
			waitReclaimed(t, n, 2*conns, func(err error) bool { return err != nil })
		})
	}
}
