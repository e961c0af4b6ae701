package nethttp

import (
	"net"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// TestAsGoParkedConnErrors: a conn whose socket was parked is closed to
// srv, and its errors have the shape of a closed Go conn's of the same
// network ("tcp4" kept; the deadline setters naming the local address
// only), not "tcp" whatever the listener's.
func TestAsGoParkedConnErrors(t *testing.T) {
	errsOf := func(c net.Conn) map[string]error {
		buf := make([]byte, 4)
		errs := map[string]error{}
		_, errs["read"] = c.Read(buf)
		_, errs["write"] = c.Write(buf)
		errs["SetDeadline"] = c.SetDeadline(time.Time{})
		errs["SetReadDeadline"] = c.SetReadDeadline(time.Time{})
		errs["SetWriteDeadline"] = c.SetWriteDeadline(time.Time{})
		errs["close"] = c.Close()
		return errs
	}
	shape := func(c net.Conn, err error) string { return readFromShape(c, 0, err) }
	for _, network := range []string{"tcp4", "tcp"} {
		gl, err := net.Listen(network, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		gc, _ := revAccept(t, gl)
		gl.Close()
		gc.Close()
		want := errsOf(gc)

		for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd} {
			ln, err := Listen(network, "127.0.0.1:0", netpoll.WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			ac, _ := revAccept(t, ln)
			ln.Close()
			c := ac.(*conn)
			// Parked as Close parks one (psEOF to psParked), without
			// the lot: the socket stays open, the conn is dead.
			c.pk = &parking{}
			c.pk.state.Store(psParked)
			t.Cleanup(func() { c.Conn.Close() })
			got := errsOf(c)
			for k, w := range want {
				if gs, ws := shape(c, got[k]), shape(gc, w); gs != ws {
					t.Errorf("%s %v parked, %s:\n  go:    %v\n         %s\n  upoll: %v\n         %s", network, b, k, w, ws, got[k], gs)
				}
			}
		}
	}
}
