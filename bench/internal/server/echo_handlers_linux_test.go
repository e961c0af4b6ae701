package server

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestUpollEchoHandlers: each echo handler of upoll-echo (the echo key:
// copy, slice, write) returns every byte in order, over a ping-pong (with
// the default dispatch and inline) and, with the default dispatch, over
// a back-to-back stream that fills the client's socket, so that the
// server must keep output it could not write; and the write handler's
// replies go to the kernel straight from the input, one write call per
// ping-pong message.
func TestUpollEchoHandlers(t *testing.T) {
	var points []string
	for _, echo := range echoHandlers {
		points = append(points, "echo="+echo, "echo="+echo+",dispatch=inline")
	}
	for _, opts := range points {
		t.Run(opts, func(t *testing.T) {
			inline := strings.HasSuffix(opts, ",dispatch=inline")
			a, err := startUpollEcho("127.0.0.1:0", opts)
			if err != nil {
				t.Fatal(err)
			}
			x := a.(upollAddr)
			defer x.srv.Close()
			c, err := net.DialTimeout("tcp", a.String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			before := x.counters()
			const msgs = 200
			pingPong(t, c, msgs)
			// The server counts a write after the call returns, which
			// may be after the client has the echo: wait for the count.
			d := x.counters().Sub(before)
			for end := time.Now().Add(2 * time.Second); d.Writes < msgs && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
				d = x.counters().Sub(before)
			}
			if d.Writes < msgs || (strings.HasPrefix(opts, "echo=write") && d.Writes != msgs) {
				t.Errorf("%d write calls for %d ping-pong messages", d.Writes, msgs)
			}
			if inline {
				// The handlers are not the careful kind DispatchInline
				// asks of a handler whose peer may stop reading (their
				// ErrWouldBlock closes the connection): the bench's
				// clients read, and so does the ping-pong above.
				return
			}
			echoBackToBack(t, a.String(), func() bool { return x.counters().WriteEAGAIN > 0 })
		})
	}
}
