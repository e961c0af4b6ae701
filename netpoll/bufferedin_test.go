package netpoll

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestBufferedInWhileHandlerWaits: input that a handler has not consumed
// counts in Stats.BufferedIn (and so in the buffer budget) once the
// handler returns, and while it waits in upoll for more input or for
// output room, on every backend. BackendStd puts off the accounting of
// its loop's read while the handler runs (stdRead's deferAcct); each
// case fails when the settling point it names is removed.
func TestBufferedInWhileHandlerWaits(t *testing.T) {
	const sent = 10
	cases := []struct {
		name    string
		handler Handler
		waits   bool // for input: not a case for DispatchInline (skipInline)
	}{
		// The run's end settles (stdLoop): this handler makes no
		// Reader call (each of those accounts what is buffered), it
		// looks at Len and waits for a whole message.
		{"returns", func(c *Conn) error {
			if c.Reader().Len() <= sent {
				return nil
			}
			return errors.New("more input than was sent")
		}, false},
		// The wait for more input settles (stdWaitRead).
		{"waits for input", func(c *Conn) error {
			_, err := c.Reader().Next(sent + 1)
			return err
		}, true},
		// The wait for output room settles (stdSend): the peer reads
		// nothing, so an 8 MiB Flush blocks.
		{"waits in Flush", func(c *Conn) error {
			w := c.Writer()
			if _, err := w.WriteBinary(bytes.Repeat([]byte{'x'}, 8<<20)); err != nil {
				return err
			}
			return w.Flush()
		}, false},
	}
	for _, b := range testBackends(true) {
		for _, tc := range cases {
			t.Run(b.String()+"/"+tc.name, func(t *testing.T) {
				if tc.waits {
					skipInline(t)
				}
				testutil.CheckLeaks(t)
				s, addr := startServer(t, tc.handler, WithBackend(b))
				cl := dialTCP(t, addr)
				defer cl.Close()
				if _, err := cl.Write(make([]byte, sent)); err != nil {
					t.Fatal(err)
				}
				if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BufferedIn == sent }) {
					t.Fatalf("Stats.BufferedIn = %d, want the %d bytes the handler left", s.Stats().BufferedIn, sent)
				}
				// And it stays so: nothing counts it twice.
				time.Sleep(20 * time.Millisecond)
				if got := s.Stats().BufferedIn; got != sent {
					t.Fatalf("Stats.BufferedIn = %d a moment later, want %d", got, sent)
				}
			})
		}
	}
}
