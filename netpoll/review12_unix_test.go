package netpoll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shortTempDir returns a directory under os.TempDir whose paths stay
// well inside sockaddr_un's 108 bytes, removed at the test's end.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "u")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// unixAddrString is a's network and name, renamed by r, for comparing
// addresses of sockets bound to different paths.
func unixAddrString(a net.Addr, r *strings.Replacer) string {
	if a == nil {
		return "<nil>"
	}
	return r.Replace(a.Network() + ":" + a.String())
}

// A Unix-domain connection's RemoteAddr is the peer's name from its
// connect or accept to after its Close, as Go's *net.UnixConn keeps it;
// so do the errors of calls after Close, which name it. Dialed (to an
// absolute path, and to a relative one, where Go reports the name the
// listener bound) and accepted (from an unbound peer, which Linux names
// "@", and from a bound one).
func TestReview12UnixRemoteAddrAfterClose(t *testing.T) {
	dir := shortTempDir(t)
	gpath := filepath.Join(dir, "g")
	gl, err := net.Listen("unix", gpath)
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	upath := filepath.Join(dir, "u")
	_, _, conns := startAcceptUnix(t, upath)

	goAccept := func() net.Conn {
		t.Helper()
		gl.(*net.UnixListener).SetDeadline(time.Now().Add(5 * time.Second))
		c, err := gl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// check compares upoll's connection u with Go's g, open and closed.
	// The names of Go's sockets and of upoll's, to compare them.
	gname, uname := filepath.Join(dir, "gc"), filepath.Join(dir, "uc")
	r := strings.NewReplacer(gname, "CLIENT", uname, "CLIENT", gpath, "LISTENER", upath, "LISTENER")
	check := func(what string, u *Conn, g net.Conn) {
		t.Helper()
		ga, ua := unixAddrString(g.RemoteAddr(), r), unixAddrString(u.RemoteAddr(), r)
		if ua != ga {
			t.Errorf("%s: open: RemoteAddr upoll %s, go %s", what, ua, ga)
		}
		g.Close()
		u.Close()
		ga, ua = unixAddrString(g.RemoteAddr(), r), unixAddrString(u.RemoteAddr(), r)
		if ua != ga {
			t.Errorf("%s: after Close: RemoteAddr upoll %s, go %s", what, ua, ga)
		}
		_, gerr := g.Write([]byte("x"))
		_, uerr := u.Write([]byte("x"))
		if gerr == nil || uerr == nil {
			t.Fatalf("%s: Write after Close: upoll %v, go %v", what, uerr, gerr)
		}
		if gs, us := r.Replace(gerr.Error()), r.Replace(uerr.Error()); us != gs {
			t.Errorf("%s: Write after Close:\nupoll %s\n   go %s", what, us, gs)
		}
	}

	// Dialed, to the same Go listener: the names are the same.
	gc, err := net.Dial("unix", gpath)
	if err != nil {
		t.Fatal(err)
	}
	defer goAccept().Close()
	uc, err := Dial("unix", gpath)
	if err != nil {
		t.Fatal(err)
	}
	defer goAccept().Close()
	check("dialed", uc, gc)

	// Dialed by a relative path: RemoteAddr is the name bound.
	t.Chdir(dir)
	gc, err = net.Dial("unix", "g")
	if err != nil {
		t.Fatal(err)
	}
	defer goAccept().Close()
	uc, err = Dial("unix", "g")
	if err != nil {
		t.Fatal(err)
	}
	defer goAccept().Close()
	check("dialed relative", uc, gc)

	// Accepted from an unbound peer.
	gp, err := net.Dial("unix", gpath)
	if err != nil {
		t.Fatal(err)
	}
	defer gp.Close()
	up, err := net.Dial("unix", upath)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	check("accepted from an unbound peer", recvConn(t, conns), goAccept())

	// Accepted from a peer bound to a name of its own.
	gp, err = net.DialUnix("unix", &net.UnixAddr{Name: gname, Net: "unix"}, &net.UnixAddr{Name: gpath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer gp.Close()
	up, err = net.DialUnix("unix", &net.UnixAddr{Name: uname, Net: "unix"}, &net.UnixAddr{Name: upath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	check("accepted from a bound peer", recvConn(t, conns), goAccept())
}

// sendCalls names the system calls of a failed send as a Write's.
var sendCalls = strings.NewReplacer("writev:", "write:", "sendfile:", "write:", "splice:", "write:")

// On a Unix-domain socket a write fails with EPIPE once the peer has
// shut its reading side down (shutdown(SHUT_RD) reaches the peer, unlike
// TCP's), and the peer may go on sending: as with Go's *net.UnixConn,
// every later write fails with EPIPE and reading goes on, to the peer's
// end. Accepted and dialed connections, the write direct or through the
// Writer's Flush, compared with Go's.
func TestReview12UnixWriteAfterPeerCloseRead(t *testing.T) {
	dir := shortTempDir(t)
	gl, err := net.Listen("unix", filepath.Join(dir, "g"))
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	goAccept := func() net.Conn {
		t.Helper()
		gl.(*net.UnixListener).SetDeadline(time.Now().Add(5 * time.Second))
		c, err := gl.Accept()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	upath := filepath.Join(dir, "u")
	_, _, conns := startAcceptUnix(t, upath)

	// run has c write after its peer's CloseRead, then read what the
	// peer sends after it, to the peer's close. It returns what
	// happened, with the addresses left out.
	run := func(c net.Conn, peer *net.UnixConn, write func([]byte) error) string {
		t.Helper()
		defer c.Close()
		defer peer.Close()
		if err := peer.CloseRead(); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		werr := func(err error) string {
			if err == nil {
				return "<nil>"
			}
			var oe *net.OpError
			if errors.As(err, &oe) {
				// ReadFrom's wraps a failed Write's (under BackendStd)
				// as *net.TCPConn's does. The Writer's Flush sends
				// with writev, ReadFrom with sendfile where it can.
				for errors.As(oe.Err, &oe) {
				}
				return "write: " + sendCalls.Replace(oe.Err.Error())
			}
			return err.Error()
		}
		// The shutdown reaches c's socket at once: no wait needed.
		fmt.Fprintf(&b, "write: %s; ", werr(write([]byte("to a peer that reads no more"))))
		fmt.Fprintf(&b, "again: %s; ", werr(write([]byte("x"))))
		if _, err := peer.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, 5)
		n, err := io.ReadFull(c, got)
		fmt.Fprintf(&b, "read %q %v; ", got[:n], err)
		peer.Write([]byte("last"))
		peer.Close()
		rest, err := io.ReadAll(c)
		fmt.Fprintf(&b, "rest %q %v", rest, err)
		return b.String()
	}
	direct := func(c net.Conn) func([]byte) error {
		return func(p []byte) error { _, err := c.Write(p); return err }
	}
	readFrom := func(c *Conn) func([]byte) error {
		return func(p []byte) error {
			f, err := os.CreateTemp(dir, "f")
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(p); err != nil {
				t.Fatal(err)
			}
			f.Seek(0, io.SeekStart)
			_, err = c.ReadFrom(f)
			return err
		}
	}
	flushed := func(c *Conn) func([]byte) error {
		return func(p []byte) error {
			w := c.Writer()
			if _, err := w.WriteBinary(p); err != nil {
				return err
			}
			return w.Flush()
		}
	}

	gp, err := net.Dial("unix", filepath.Join(dir, "g"))
	if err != nil {
		t.Fatal(err)
	}
	gs := goAccept()
	want := run(gs, gp.(*net.UnixConn), direct(gs))

	for _, tc := range []struct {
		name  string
		write func(*Conn) func([]byte) error
	}{
		{"Write", func(c *Conn) func([]byte) error { return direct(c) }},
		{"Writer.Flush", flushed},
		{"ReadFrom(*os.File)", readFrom},
	} {
		// Accepted by upoll, the peer Go's.
		peer, err := net.Dial("unix", upath)
		if err != nil {
			t.Fatal(err)
		}
		sc := recvConn(t, conns)
		if got := run(sc, peer.(*net.UnixConn), tc.write(sc)); got != want {
			t.Errorf("accepted, %s:\nupoll %s\n   go %s", tc.name, got, want)
		}
		// Dialed by upoll, the peer Go's.
		dc, err := Dial("unix", filepath.Join(dir, "g"))
		if err != nil {
			t.Fatal(err)
		}
		if got := run(dc, goAccept().(*net.UnixConn), tc.write(dc)); got != want {
			t.Errorf("dialed, %s:\nupoll %s\n   go %s", tc.name, got, want)
		}
	}
}

// peerReadShutUnix returns a Unix-domain connection accepted by a
// native-backend server, and its Go peer, which has shut its reading
// side down; both close when the test ends. Under BackendStd the test
// is skipped, saying why not.
func peerReadShutUnix(t *testing.T, whyNotStd string) (*Conn, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "u")
	s, _, conns := startAcceptUnix(t, path)
	if s.Config().Backend == BackendStd {
		t.Skip(whyNotStd)
	}
	pc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	peer := pc.(*net.UnixConn)
	t.Cleanup(func() { peer.Close() })
	c := recvConn(t, conns)
	t.Cleanup(func() { c.Close() })
	if err := peer.CloseRead(); err != nil {
		t.Fatal(err)
	}
	return c, peer
}

// A send the poller makes for the application (FlushAsync) that fails
// because the Unix-domain peer reads no more ends the writing only:
// the next write reports EPIPE, and what the peer sends is read to its
// end, as after a failed Write (TestReview12UnixWriteAfterPeerCloseRead).
func TestReview12UnixFlushAsyncAfterPeerCloseRead(t *testing.T) {
	c, peer := peerReadShutUnix(t, "FlushAsync is Flush under BackendStd")
	w := c.Writer()
	if _, err := w.WriteBinary([]byte("queued")); err != nil {
		t.Fatal(err)
	}
	if err := w.FlushAsync(); err != nil {
		t.Fatalf("FlushAsync: %v", err)
	}
	// The poller's send fails; a write learns of it.
	var werr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, werr = c.Write(nil); werr != nil {
			break
		}
	}
	if !errors.Is(werr, syscall.EPIPE) {
		t.Fatalf("Write after the failed send: %v, want EPIPE", werr)
	}
	if _, err := peer.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); string(b) != "after" || err != nil {
		t.Errorf("read after the failed send: %q, %v; want \"after\", <nil>", b, err)
	}
}

// A Flush after the writing ended on a Unix-domain peer's CloseRead
// (fPeerReadShut) fails with EPIPE and leaves nothing queued: its batch
// is dropped with the rest, as the failed send dropped what was queued
// then, rather than held until the connection closes (under edge
// triggering no EPOLLOUT would come to drop it), one batch per Flush.
func TestReview12UnixFlushAfterPeerReadShutQueuesNothing(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "u")
	s, _, conns := startAcceptUnix(t, path)
	pc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c := recvConn(t, conns)
	defer c.Close()
	if err := pc.(*net.UnixConn).CloseRead(); err != nil {
		t.Fatal(err)
	}
	w := c.Writer()
	for i := range 3 {
		if _, err := w.WriteBinary(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("Flush %d: %v, want EPIPE", i, err)
		}
		if n := c.out.Len(); n != 0 {
			t.Fatalf("after Flush %d: %d bytes queued, want 0", i, n)
		}
	}
	if st := s.Stats(); st.BufferedOut != 0 {
		t.Errorf("BufferedOut %d after the failed Flushes, want 0", st.BufferedOut)
	}
}
