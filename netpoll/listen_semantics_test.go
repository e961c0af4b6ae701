package netpoll

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// Closing a listener on an abstract unix socket ("@name") must not
// remove a file of that name in the working directory: Go's
// UnixListener unlinks only paths that do not begin with '@'.
func TestAbstractUnixCloseKeepsFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, impl := range []string{"go", "upoll"} {
		name := "@upoll-test-" + impl + "-" + filepath.Base(dir)
		if err := os.WriteFile(name, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		var closeFn func() error
		if impl == "go" {
			l, err := net.Listen("unix", name)
			if err != nil {
				t.Fatal(err)
			}
			closeFn = l.Close
		} else {
			l, err := Listen("unix", name)
			if err != nil {
				t.Fatal(err)
			}
			closeFn = l.Close
		}
		closeFn()
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%s: closing the abstract listener %q removed the file %q in the working directory: %v", impl, name, name, err)
		}
	}
}

// Dial("tcp6", "127.0.0.1:port") must fail as with Go's net (an IPv4
// address is not a tcp6 address); it must not connect over IPv4.
func TestDialTCP6IPv4Literal(t *testing.T) {
	gl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	go func() {
		for {
			c, err := gl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := gl.Addr().String()
	d := net.Dialer{Timeout: 5 * time.Second}
	if c, err := d.Dial("tcp6", addr); err == nil {
		c.Close()
		t.Fatalf("Go's net dialled tcp6 %s", addr)
	} else {
		t.Logf("go: %v", err)
	}
	ud := Dialer{Timeout: 5 * time.Second}
	c, err := ud.DialContext(context.Background(), "tcp6", addr)
	if err == nil {
		t.Errorf("upoll dialled tcp6 %s over IPv4: local %v remote %v", addr, c.LocalAddr(), c.RemoteAddr())
		c.Close()
	}
}

// Listen on a link-local IPv6 address with its zone, as Go's net does
// (bind only: no traffic).
func TestListenIPv6Zone(t *testing.T) {
	var zaddr string
	ifs, _ := net.Interfaces()
	for _, ifi := range ifs {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() == nil && ipn.IP.IsLinkLocalUnicast() {
				zaddr = net.JoinHostPort(ipn.IP.String()+"%"+ifi.Name, "0")
			}
		}
	}
	if zaddr == "" {
		t.Skip("no link-local IPv6 address")
	}
	gl, err := net.Listen("tcp6", zaddr)
	if err != nil {
		t.Skipf("Go's net cannot listen on %s either: %v", zaddr, err)
	}
	t.Logf("go: %v", gl.Addr())
	gl.Close()
	l, err := Listen("tcp6", zaddr)
	if err != nil {
		t.Fatalf("upoll Listen(tcp6, %s): %v (Go's net listens)", zaddr, err)
	}
	l.Close()
}

// Listen on an address in use: the same error as Go's net (the address
// named once, errors.Is EADDRINUSE), and no descriptor left behind.
func TestListenInUse(t *testing.T) {
	gl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	addr := gl.Addr().String()
	_, gerr := net.Listen("tcp", addr)
	if gerr == nil {
		t.Fatal("Go's net listened twice")
	}
	runtime.GC()
	before := testutil.FDs(t)
	for range 20 {
		l, err := Listen("tcp", addr)
		if err == nil {
			l.Close()
			t.Fatal("upoll listened on an address in use")
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("error %v is not EADDRINUSE", err)
		}
		if err.Error() != gerr.Error() {
			t.Errorf("upoll: %q\n    go: %q", err, gerr)
			break
		}
	}
	if after := testutil.FDs(t); after > before {
		t.Errorf("descriptors: %d before, %d after 20 failed listens", before, after)
	}
}

// A dial cancelled or timed out mid-connect leaves no descriptor.
func TestDialCancelNoLeak(t *testing.T) {
	addr := unresponsiveAddr(t)
	// Warm up the default dial group (its pollers' descriptors).
	if c, err := Dial("tcp", rawListen(t, 4)); err == nil {
		c.Close()
	}
	before := testutil.FDs(t)
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Duration(i%5)*time.Millisecond, cancel)
		d := Dialer{Timeout: time.Duration(1+i%3) * 10 * time.Millisecond}
		c, err := d.DialContext(ctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			continue
		}
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("dial %d: %v", i, err)
		}
	}
	if !testutil.WaitFor(2*time.Second, func() bool { return testutil.FDs(t) <= before }) {
		t.Errorf("descriptors: %d before, %d after 20 cancelled dials\n%s", before, testutil.FDs(t), testutil.DescribeFDs())
	}
}

// Unix connections' addresses, as Go's net reports them.
func TestUnixAddrs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	_, _, conns := startAcceptUnix(t, path)
	// upoll dial
	uc, err := Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	sc := recvConn(t, conns)
	defer sc.Close()
	// Go's net on a Go listener
	gpath := filepath.Join(t.TempDir(), "g")
	gl, err := net.Listen("unix", gpath)
	if err != nil {
		t.Fatal(err)
	}
	defer gl.Close()
	gc, err := net.Dial("unix", gpath)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	gs, err := gl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer gs.Close()
	str := func(a net.Addr) string {
		if a == nil {
			return "<nil>"
		}
		return a.Network() + ":" + strings.ReplaceAll(strings.ReplaceAll(a.String(), gpath, "P"), path, "P")
	}
	check := func(what string, u, g net.Addr) {
		if str(u) != str(g) {
			t.Errorf("%s: upoll %s, go %s", what, str(u), str(g))
		}
	}
	check("dialed LocalAddr", uc.LocalAddr(), gc.LocalAddr())
	check("dialed RemoteAddr", uc.RemoteAddr(), gc.RemoteAddr())
	check("accepted LocalAddr", sc.LocalAddr(), gs.LocalAddr())
	check("accepted RemoteAddr", sc.RemoteAddr(), gs.RemoteAddr())
}

func startAcceptUnix(t *testing.T, path string, opts ...Option) (*Server, *Listener, chan *Conn) {
	t.Helper()
	conns := make(chan *Conn, 16)
	s, err := NewServer(nil, append(opts, WithOnConnect(func(c *Conn) { conns <- c }))...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("unix", path)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return")
		}
		if _, err := os.Stat(path); err == nil {
			t.Errorf("socket file %s left after Close", path)
		}
	})
	return s, ln, conns
}

// Dialing a unix path too long for sockaddr_un fails with Go's error.
func TestDialUnixTooLong(t *testing.T) {
	p := "/tmp/" + strings.Repeat("x", 200)
	_, gerr := net.Dial("unix", p)
	_, err := Dial("unix", p)
	if err == nil || gerr == nil {
		t.Fatalf("upoll %v, go %v", err, gerr)
	}
	if err.Error() != gerr.Error() {
		t.Errorf("upoll: %v\n    go: %v", err, gerr)
	}
}

// Connections reset before they are accepted do not stop Serve.
func TestResetBeforeAccept(t *testing.T) {
	_, addr, conns := startAccept(t)
	for range 50 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	c := dialTCP(t, addr)
	c.Write([]byte("x"))
	deadline := time.After(5 * time.Second)
	for {
		select {
		case sc := <-conns:
			sc.Close()
			// Drain until the live one appears; the reset ones are
			// accepted too, which is fine.
			if sc.RemoteAddr().String() == c.LocalAddr().String() {
				return
			}
		case <-deadline:
			t.Fatal("Serve stopped accepting after resets")
		}
	}
}

// WrapListener of a listener its owner has closed fails (or serves
// nothing), and Close of the wrapped one leaves the owner's listening.
func TestWrapClosed(t *testing.T) {
	gl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl.Close()
	l, err := WrapListener(gl)
	if err == nil {
		t.Logf("WrapListener of a closed listener succeeded: %v", l.Addr())
		s, err := NewServer(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(3 * time.Second):
			t.Error("Serve of a wrapped closed listener blocks")
		}
		l.Close()
	} else {
		t.Logf("WrapListener of a closed listener: %v", err)
	}
}

// Listen("unix", "") autobinds an abstract name; the listener's Addr
// must be that name (as Go's net reports it), so that it can be dialled.
func TestUnixAutobindAddr(t *testing.T) {
	gl, err := net.Listen("unix", "")
	if err != nil {
		t.Skipf("Go's net: %v", err)
	}
	t.Logf("go: %q", gl.Addr().String())
	gl.Close()
	l, err := Listen("unix", "")
	if err != nil {
		t.Fatalf("upoll: %v", err)
	}
	defer l.Close()
	c, err := net.DialTimeout("unix", l.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatalf("upoll listener Addr %q cannot be dialled: %v", l.Addr().String(), err)
	}
	c.Close()
}

// WrapListener takes stream sockets only: a *net.UnixListener of Go's
// "unixpacket" (SOCK_SEQPACKET) or "unixgram" network is refused with
// ErrUnsupportedNetwork, as Listen refuses those networks, and the
// caller's listener is left as it was. Served, a seqpacket connection
// lost data: each read takes one message and drops what does not fit
// the buffer (a 64 KiB message echoed as its first 4 KiB).
func TestWrapListenerPacket(t *testing.T) {
	testutil.CheckLeaks(t)
	s, err := NewServer(echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, network := range []string{"unixpacket", "unixgram"} {
		path := filepath.Join(t.TempDir(), "s")
		gl, err := net.Listen(network, path)
		if err != nil {
			t.Logf("Go's net cannot listen on %s here: %v", network, err)
			continue
		}
		wraps := map[string]func(net.Listener) (*Listener, error){
			"WrapListener":        WrapListener,
			"Server.WrapListener": s.WrapListener,
		}
		for name, wrap := range wraps {
			ln, err := wrap(gl)
			if err == nil {
				t.Errorf("%s of a %s listener succeeded (%v): its connections would be read as a stream", name, network, ln.Addr())
				ln.Close()
				continue
			}
			var oe *net.OpError
			if !errors.Is(err, ErrUnsupportedNetwork) || !errors.As(err, &oe) || oe.Op != "listen" || oe.Net != network {
				t.Errorf("%s of a %s listener: %v (%#v); want a *net.OpError listen %s wrapping ErrUnsupportedNetwork", name, network, err, err, network)
			}
		}
		if network == "unixpacket" {
			// The caller's listener still works.
			c, err := net.DialTimeout(network, path, 2*time.Second)
			if err != nil {
				t.Fatalf("dial %s after the refused wraps: %v", network, err)
			}
			gl.(*net.UnixListener).SetDeadline(time.Now().Add(2 * time.Second))
			sc, err := gl.Accept()
			if err != nil {
				t.Errorf("the caller's %s listener after the refused wraps: %v", network, err)
			} else {
				sc.Close()
			}
			c.Close()
		}
		gl.Close()
	}
}

// A WrapListener's Close leaves the caller's listener, which shares the
// socket, its connections: one dialled once Close has returned is
// accepted by the caller, on every backend. io_uring's multishot accept
// (UPOLL_URING_ACCEPT=1) took it in the kernel until the Serve that
// Close ended cancelled the accept, and then closed it: about half of
// such connections were reset.
func TestWrapCloseLeavesConnections(t *testing.T) {
	for _, tc := range gateCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(tc.env, tc.val)
			}
			testutil.CheckLeaks(t)
			gl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer gl.Close()
			s, err := NewServer(echoHandler, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for i := range 30 {
				ln, err := s.WrapListener(gl)
				if err != nil {
					t.Fatal(err)
				}
				served := make(chan error, 1)
				go func() { served <- s.Serve(ln) }()
				// Served: the accept is armed.
				c := dialTCP(t, gl.Addr().String())
				if !echoedWithin(t, c, 5*time.Second) {
					t.Fatalf("round %d: not served through the wrapped listener", i)
				}
				c.Close()
				ln.Close()
				mine := dialTCP(t, gl.Addr().String())
				gl.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
				sc, err := gl.Accept()
				if err != nil {
					t.Fatalf("round %d: the caller's listener after the wrapped one closed: %v", i, err)
				}
				if sc.RemoteAddr().String() != mine.LocalAddr().String() {
					t.Errorf("round %d: the caller's listener accepted %v, want %v", i, sc.RemoteAddr(), mine.LocalAddr())
				}
				sc.Close()
				mine.Close()
				select {
				case err := <-served:
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("round %d: Serve after Close: %v", i, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("round %d: Serve did not return after Close", i)
				}
			}
		})
	}
}

// A Unix-domain Listen whose bind fails removes nothing: the path of a
// live listener, or a stale file, stays as it was, and the error is Go's
// net's (EADDRINUSE). Only a file that Listen's own bind made is removed,
// at Close or when the listen fails after the bind.
func TestUnixListenInUseKeepsFile(t *testing.T) {
	testutil.CheckLeaks(t)
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "live")
			gl, err := net.Listen("unix", live)
			if err != nil {
				t.Fatal(err)
			}
			defer gl.Close()
			stale := filepath.Join(dir, "stale")
			if err := os.WriteFile(stale, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{live, stale} {
				_, gerr := net.Listen("unix", path)
				ln, err := Listen("unix", path, WithBackend(b))
				if err == nil {
					ln.Close()
					t.Fatalf("Listen on %s succeeded", path)
				}
				if !errors.Is(err, syscall.EADDRINUSE) || gerr == nil || err.Error() != gerr.Error() {
					t.Errorf("Listen on %s: %v; Go's net: %v", path, err, gerr)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s after the failed Listen: %v", path, err)
				}
			}
			c, err := net.DialTimeout("unix", live, 2*time.Second)
			if err != nil {
				t.Fatalf("the live listener after the failed Listen: %v", err)
			}
			c.Close()
		})
	}
}
