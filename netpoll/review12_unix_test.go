package netpoll

import (
	"net"
	"os"
	"path/filepath"
	"strings"
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
