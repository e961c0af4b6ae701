package netpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/upoll/upoll/internal/testutil"
)

// fileFlags returns the descriptor flags (F_GETFD) and the file status
// flags (F_GETFL) of f's descriptor, read through its RawConn: Fd would
// make a File of Go's net blocking.
func fileFlags(t *testing.T, f *os.File) (fdFlags, flFlags int) {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var e1, e2 error
	if err := rc.Control(func(fd uintptr) {
		fdFlags, e1 = unix.FcntlInt(fd, unix.F_GETFD, 0)
		flFlags, e2 = unix.FcntlInt(fd, unix.F_GETFL, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if e1 != nil || e2 != nil {
		t.Fatal(e1, e2)
	}
	return fdFlags, flFlags
}

// expectBytes reads len(want) bytes from r within a few seconds.
func expectBytes(t *testing.T, what string, r net.Conn, want string) {
	t.Helper()
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
		t.Fatalf("%s: read %q, %v; want %q", what, got, err, want)
	}
}

// TestConnFile: File returns a duplicate of the socket, as Go's
// (*net.TCPConn).File: close-on-exec, named as Go names it, writing
// through it reaches the peer, the Conn keeps working after the File is
// closed, and the File after the Conn is closed (the peer sees the end
// only once both are). No descriptor is left behind.
func TestConnFile(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			c, peer := acceptPair(t, WithBackend(b))

			f, err := c.File()
			if err != nil {
				t.Fatal(err)
			}
			gs, _ := goTCPPair(t)
			gf, err := gs.File()
			if err != nil {
				t.Fatal(err)
			}
			gf.Close()
			wantName := "tcp:" + c.LocalAddr().String() + "->" + c.RemoteAddr().String()
			if f.Name() != wantName || gf.Name()[:4] != "tcp:" {
				t.Errorf("File's name %q, want %q (Go's: %q)", f.Name(), wantName, gf.Name())
			}
			fdFlags, flFlags := fileFlags(t, f)
			if fdFlags&unix.FD_CLOEXEC == 0 {
				t.Error("the File's descriptor is not close-on-exec")
			}
			if flFlags&unix.O_NONBLOCK == 0 {
				t.Error("the File's descriptor is blocking: so is the Conn's socket then")
			}

			if _, err := f.Write([]byte("file ")); err != nil {
				t.Fatal(err)
			}
			expectBytes(t, "the File's write", peer, "file ")
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			// The Conn after the File's Close: both ways.
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte("conn ")); err != nil {
				t.Fatalf("Write after the File's Close: %v", err)
			}
			expectBytes(t, "the Conn's write", peer, "conn ")
			if _, err := peer.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("Read after the File's Close: %q, %v", buf, err)
			}

			// The File after the Conn's Close.
			f2, err := c.File()
			if err != nil {
				t.Fatal(err)
			}
			defer f2.Close()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := f2.Write([]byte("after")); err != nil {
				t.Fatalf("the File's Write after the Conn's Close: %v", err)
			}
			expectBytes(t, "the File's write after Close", peer, "after")
			// What the peer sends now is the File's alone: no poller
			// reads the socket after the Conn's Close.
			if _, err := peer.Write([]byte("back")); err != nil {
				t.Fatal(err)
			}
			f2.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(f2, buf); err != nil || string(buf) != "back" {
				t.Fatalf("the File's Read after the Conn's Close: %q, %v", buf, err)
			}
			peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if n, err := peer.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the peer read %d, %v while the File was open; want no end yet", n, err)
			}
			f2.Close()
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := peer.Read(buf); err != io.EOF {
				t.Fatalf("the peer read %d, %v after the File's Close; want io.EOF", n, err)
			}
		})
	}
}

// TestConnFileFdKeepsSocketNonblocking: the File's Fd, which Go's makes
// blocking (and with it the socket, whose O_NONBLOCK every descriptor
// shares), leaves a native Conn's socket nonblocking: its poller would
// block in a read otherwise.
func TestConnFileFdKeepsSocketNonblocking(t *testing.T) {
	for _, b := range testBackends(false) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			c, peer := acceptPair(t, WithBackend(b))
			f, err := c.File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.Fd()
			if _, fl := fileFlags(t, f); fl&unix.O_NONBLOCK == 0 {
				t.Fatal("Fd made the socket blocking")
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			for _, m := range []string{"b", "c"} {
				if _, err := peer.Write([]byte(m)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 1)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != m {
					t.Fatalf("Read after Fd: %q, %v", buf, err)
				}
				if _, err := c.Write(buf); err != nil {
					t.Fatal(err)
				}
				expectBytes(t, "Write after Fd", peer, m)
			}
		})
	}
}

// TestConnFileAfterCloseAsGo: File on a closed Conn fails as on Go's
// closed *net.TCPConn: a *net.OpError, Op "file", the same network and
// addresses, wrapping net.ErrClosed, and no File.
func TestConnFileAfterCloseAsGo(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			c, _ := acceptPair(t, WithBackend(b))
			g, _ := goTCPPair(t)
			laddr, raddr := c.LocalAddr(), c.RemoteAddr()
			gladdr, graddr := g.LocalAddr(), g.RemoteAddr()
			c.Close()
			g.Close()
			f, err := c.File()
			gf, gerr := g.File()
			if f != nil || gf != nil {
				t.Fatalf("File after Close: %v (Go's %v), want none", f, gf)
			}
			want := addrShapeOf(gerr, gladdr, graddr)
			if got := addrShapeOf(err, laddr, raddr); got != want || !want.Closed || want.Op != "file" {
				t.Errorf("File after Close: %v\n  shape %+v\n  Go's  %+v (%v)", err, got, want, gerr)
			}
			var oe *net.OpError
			var se *os.SyscallError
			if errors.As(err, &oe) && oe.Err != net.ErrClosed || errors.As(err, &se) {
				t.Errorf("File after Close wraps %#v; Go's wraps net.ErrClosed itself", oe.Err)
			}
		})
	}
}

// TestConnMultipathTCPAsGo: MultipathTCP reports what Go's reports for
// the same kind of socket: false for plain TCP (what upoll dials and
// listens on), the peer's view for a connection accepted on an MPTCP
// listener of Go's that upoll wraps, false on a Unix-domain connection
// and after Close.
func TestConnMultipathTCPAsGo(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			c, _ := acceptPair(t, WithBackend(b))
			g, _ := goTCPPair(t)
			gm, gerr := g.MultipathTCP()
			if m, err := c.MultipathTCP(); m != gm || err != nil || gerr != nil {
				t.Errorf("plain TCP: MultipathTCP %v, %v; Go's %v, %v", m, err, gm, gerr)
			}

			lc := net.ListenConfig{}
			lc.SetMultipathTCP(true)
			gl, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer gl.Close()
			conns2 := make(chan *Conn, 1)
			s, err := NewServer(nil, WithBackend(b), WithOnConnect(func(c *Conn) { conns2 <- c }))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := s.WrapListener(gl)
			if err != nil {
				t.Fatal(err)
			}
			go s.Serve(ln)
			d := net.Dialer{Timeout: 5 * time.Second}
			d.SetMultipathTCP(true)
			cl, err := d.Dial("tcp", gl.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			mc := recvConn(t, conns2)
			peerM, _ := cl.(*net.TCPConn).MultipathTCP()
			m, err := mc.MultipathTCP()
			t.Logf("MPTCP listener: the peer's MultipathTCP %v, the accepted Conn's %v", peerM, m)
			if m != peerM || err != nil {
				t.Errorf("MPTCP listener: MultipathTCP %v, %v; the peer (Go's) says %v", m, err, peerM)
			}
			mc.Close()
			if m, err := mc.MultipathTCP(); m || err != nil {
				t.Errorf("after Close: MultipathTCP %v, %v; want false, nil", m, err)
			}
			c.Close()
			if m, err := c.MultipathTCP(); m || err != nil {
				t.Errorf("after Close: MultipathTCP %v, %v; want false, nil", m, err)
			}
		})
	}
}

// TestConnFileUnix: File and MultipathTCP on a Unix-domain connection,
// as on Go's *net.UnixConn (which has File; MultipathTCP is false).
func TestConnFileUnix(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			path := t.TempDir() + "/s.sock"
			_, _, conns := startAcceptUnix(t, path, WithBackend(b))
			peer, err := net.DialTimeout("unix", path, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			c := recvConn(t, conns)
			defer c.Close()
			if m, err := c.MultipathTCP(); m || err != nil {
				t.Errorf("MultipathTCP on a Unix-domain connection: %v, %v", m, err)
			}
			f, err := c.File()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("unix")); err != nil {
				t.Fatal(err)
			}
			f.Close()
			expectBytes(t, "the File's write", peer, "unix")
		})
	}
}

func TestReleaseAtLeast(t *testing.T) {
	for _, tc := range []struct {
		rel  string
		want bool
	}{
		{"5.16.0", true}, {"5.15.90-generic", false}, {"6.1.0", true},
		{"6.18.44-fc-v1252", true}, {"4.19", false}, {"garbage", false}, {"5", false},
	} {
		if got := releaseAtLeast(tc.rel, 5, 16); got != tc.want {
			t.Errorf("releaseAtLeast(%q, 5, 16) = %v", tc.rel, got)
		}
	}
}

// TestConnFileConcurrentClose: File racing with Close either duplicates
// the socket or reports net.ErrClosed, never an error of a descriptor
// closed under it (EBADF), nor a duplicate of another descriptor.
func TestConnFileConcurrentClose(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			_, addr, conns := startAccept(t, WithBackend(b))
			for range 20 {
				dialTCP(t, addr)
				c := recvConn(t, conns)
				want := "tcp:" + c.LocalAddr().String() + "->" + c.RemoteAddr().String()
				done := make(chan error, 1)
				go func() {
					for n := 0; ; n++ {
						f, err := c.File()
						if err != nil {
							done <- err
							return
						}
						var sa unix.Sockaddr
						rc, _ := f.SyscallConn()
						rc.Control(func(fd uintptr) { sa, _ = unix.Getsockname(int(fd)) })
						f.Close()
						if sa4, ok := sa.(*unix.SockaddrInet4); !ok || sa4.Port != c.LocalAddr().(*net.TCPAddr).Port {
							done <- errors.New("the File is not the Conn's socket: " + want)
							return
						}
					}
				}()
				time.Sleep(time.Millisecond)
				c.Close()
				select {
				case err := <-done:
					var oe *net.OpError
					if !errors.As(err, &oe) || oe.Op != "file" || !errors.Is(err, net.ErrClosed) {
						t.Fatalf("File racing with Close: %v, want a file OpError wrapping net.ErrClosed", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("File did not fail after Close")
				}
			}
		})
	}
}
