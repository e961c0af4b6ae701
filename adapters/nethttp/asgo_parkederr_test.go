package nethttp

import (
	"io"
	"net"
	"os"
	"syscall"
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
		gc := closedGoConn(t, network)
		want := errsOf(gc)

		for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd} {
			c, _ := parkedConn(t, network, b)
			got := errsOf(c)
			for k, w := range want {
				if gs, ws := shape(c, got[k]), shape(gc, w); gs != ws {
					t.Errorf("%s %v parked, %s:\n  go:    %v\n         %s\n  upoll: %v\n         %s", network, b, k, w, ws, got[k], gs)
				}
			}
		}
	}
}

// socketCalls are the methods of *net.TCPConn, beyond net.Conn's, that
// act on the socket; the adapter's conn has them too.
type socketCalls interface {
	CloseWrite() error
	CloseRead() error
	SetNoDelay(bool) error
	SetKeepAlive(bool) error
	SetKeepAlivePeriod(time.Duration) error
	SetKeepAliveConfig(net.KeepAliveConfig) error
	SetLinger(int) error
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
	SyscallConn() (syscall.RawConn, error)
	File() (*os.File, error)
	MultipathTCP() (bool, error)
}

// TestAsGoParkedConnSocketCalls: on a conn whose socket was parked, the
// methods that act on the socket fail as on a closed Go conn (net.ErrClosed,
// Go's Op, network and addresses; SyscallConn's RawConn fails in its
// calls, which do not run f) and leave the socket alone: afterwards it
// still carries bytes both ways, and its Close ends the peer's stream
// with a FIN, not the reset of SetLinger(0).
func TestAsGoParkedConnSocketCalls(t *testing.T) {
	errsOf := func(c socketCalls) map[string]error {
		errs := map[string]error{}
		errs["CloseWrite"] = c.CloseWrite()
		errs["CloseRead"] = c.CloseRead()
		errs["SetNoDelay"] = c.SetNoDelay(false)
		errs["SetKeepAlive"] = c.SetKeepAlive(false)
		errs["SetKeepAlivePeriod"] = c.SetKeepAlivePeriod(time.Hour)
		errs["SetKeepAliveConfig"] = c.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
		errs["SetLinger"] = c.SetLinger(0)
		errs["SetReadBuffer"] = c.SetReadBuffer(4096)
		errs["SetWriteBuffer"] = c.SetWriteBuffer(4096)
		f, err := c.File()
		if f != nil {
			t.Errorf("%T: File gave a descriptor of a closed conn", c)
			f.Close()
		}
		errs["File"] = err
		_, errs["MultipathTCP"] = c.MultipathTCP()
		rc, err := c.SyscallConn()
		errs["SyscallConn"] = err
		if err == nil {
			ran := func(string) { t.Errorf("%T: RawConn ran f on a closed conn", c) }
			errs["Control"] = rc.Control(func(uintptr) { ran("Control") })
			errs["raw Read"] = rc.Read(func(uintptr) bool { ran("Read"); return true })
			errs["raw Write"] = rc.Write(func(uintptr) bool { ran("Write"); return true })
		}
		return errs
	}
	shape := func(c net.Conn, err error) string { return readFromShape(c, 0, err) }
	for _, network := range []string{"tcp4", "tcp"} {
		gc := closedGoConn(t, network)
		want := errsOf(gc.(*net.TCPConn))

		for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd} {
			c, peer := parkedConn(t, network, b)
			got := errsOf(c)
			for k, w := range want {
				if gs, ws := shape(c, got[k]), shape(gc, w); gs != ws {
					t.Errorf("%s %v parked, %s:\n  go:    %v\n         %s\n  upoll: %v\n         %s", network, b, k, w, ws, got[k], gs)
				}
			}
			// The socket is as it was: bytes go both ways, and Close
			// sends a FIN after them.
			peer.SetDeadline(time.Now().Add(testDeadline))
			c.Conn.SetDeadline(time.Now().Add(testDeadline))
			if _, err := peer.Write([]byte("ping")); err != nil {
				t.Fatalf("%s %v: peer write: %v", network, b, err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c.Conn, buf); err != nil || string(buf) != "ping" {
				t.Errorf("%s %v: read after the calls: %q, %v", network, b, buf, err)
			}
			if _, err := c.Conn.Write([]byte("pong")); err != nil {
				t.Errorf("%s %v: write after the calls: %v", network, b, err)
			}
			c.Conn.Close()
			if got, err := io.ReadAll(peer); string(got) != "pong" || err != nil {
				t.Errorf("%s %v: the peer read %q, %v; want \"pong\", then a clean EOF", network, b, got, err)
			}
		}
	}
}

// parkedConn accepts a connection on an adapter listener of backend b and
// marks it parked as Close parks one (psEOF to psParked), without the
// lot: the socket stays open, the conn is dead. It returns the peer too.
func parkedConn(t *testing.T, network string, b netpoll.Backend) (*conn, net.Conn) {
	t.Helper()
	ln, err := Listen(network, "127.0.0.1:0", netpoll.WithBackend(b))
	if err != nil {
		t.Fatal(err)
	}
	ac, peer := revAccept(t, ln)
	ln.Close()
	c := ac.(*conn)
	c.pk = &parking{}
	c.pk.state.Store(psParked)
	t.Cleanup(func() { c.Conn.Close() })
	return c, peer
}

// closedGoConn returns a conn of Go's net, accepted on network and
// closed: the reference whose errors the parked conn's must match.
func closedGoConn(t *testing.T, network string) net.Conn {
	t.Helper()
	gl, err := net.Listen(network, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gc, _ := revAccept(t, gl)
	gl.Close()
	gc.Close()
	return gc
}
