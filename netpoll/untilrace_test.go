package netpoll

import (
	"bytes"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestUntilBoundJudgedOnScan: Until gives up with ErrInputFull only when
// the bytes it scanned reach the input bound. On a native backend the
// poller appends input while Until runs: here, after a scan of 100 bytes
// without the delimiter, the peer's next write (the delimiter at its 50th
// byte) is buffered up to the bound before Until looks at the length. The
// delimiter lies within the bound, so Until must return the line. Before
// the fix it judged the length taken after the scan and returned
// ErrInputFull. BackendStd does not apply: its reader reads the socket
// itself, so nothing arrives between the scan and the look.
func TestUntilBoundJudgedOnScan(t *testing.T) {
	const bound = 4 << 10
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			_, addr, conns := startAccept(t, WithBackend(b), WithMaxInput(bound))
			cl := dialTCP(t, addr)
			defer cl.Close()
			c := recvConn(t, conns)
			defer c.Close()

			head := bytes.Repeat([]byte{'a'}, 100)
			tail := bytes.Repeat([]byte{'b'}, bound)
			tail[49] = '\n'
			if _, err := cl.Write(head); err != nil {
				t.Fatal(err)
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return c.Reader().Len() >= len(head) }) {
				t.Fatalf("buffered %d bytes, want %d", c.Reader().Len(), len(head))
			}
			fired := false
			testHookUntilMiss = func(hc *Conn) {
				if hc != c || fired {
					return
				}
				fired = true
				if _, err := cl.Write(tail); err != nil {
					t.Error(err)
					return
				}
				if !testutil.WaitFor(5*time.Second, func() bool { return c.in.Len() >= bound }) {
					t.Errorf("the poller buffered %d bytes, want the bound, %d", c.in.Len(), bound)
				}
			}
			defer func() { testHookUntilMiss = nil }()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := c.Reader().Until('\n')
			if !fired {
				t.Fatal("Until found the delimiter in its first scan: the test did not set up the race")
			}
			if err != nil {
				t.Fatalf("Until = %v, want the line (the delimiter is %d bytes in, the bound %d)", err, len(head)+50, bound)
			}
			if want := len(head) + 50; len(line) != want || line[len(line)-1] != '\n' {
				t.Fatalf("Until returned %d bytes, want %d ending in the delimiter", len(line), want)
			}
		})
	}
}
