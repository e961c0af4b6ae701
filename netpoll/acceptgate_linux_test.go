package netpoll

import (
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/upoll/upoll/internal/testutil"
)

// Under io_uring the accept gate is also tested with multishot accept,
// whose connections the kernel accepts ahead of the acceptor.
func init() {
	gateExtraCases = func(b Backend, opts []Option) []gateCase {
		if b != BackendUring {
			return nil
		}
		return []gateCase{{name: "uring-accept", env: uringAcceptEnv, val: "1", opts: opts}}
	}
}

// TestPauseAcceptKeepsBacklog: a connection that arrives while
// accepting is paused stays in the kernel's accept queue (the
// listener's TCP_INFO counts it) until ResumeAccept, on every backend:
// under BackendStd the Accept that was blocked when the pause came is
// ended, not left to take the next connection. io_uring's multishot accept
// is left out: there the kernel accepts ahead of the acceptor, and the
// connections it took before the acceptor saw the pause are held, not
// served (TestPauseAccept covers that they are not served).
func TestPauseAcceptKeepsBacklog(t *testing.T) {
	for _, tc := range gateCases() {
		if tc.env == uringAcceptEnv {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == BackendUring.String() && os.Getenv(uringAcceptEnv) == "1" {
				t.Skipf("%s=1 serves every io_uring listener by a multishot accept (see the doc comment)", uringAcceptEnv)
			}
			s, addr, _ := tc.serveOne(t)
			s.PauseAccept()
			if s.Config().Backend == BackendStd {
				// The ended Accept's goroutine must run before a
				// connection arrives: woken by both, Go's Accept takes
				// the connection (PauseAccept's "an accept under way").
				// The loop counts the pause once it is out.
				if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().AcceptPauses > 0 }) {
					t.Fatal("BackendStd's accept loop did not stop at the pause")
				}
			}
			waiting := dialTCP(t, addr)
			defer waiting.Close()
			if echoedWithin(t, waiting, 300*time.Millisecond) {
				t.Fatal("a connection was served while accepting was paused")
			}
			// By now an Accept would have taken it: the queue is
			// looked at once, not waited for.
			if n := acceptQueued(t, s); n != 1 {
				t.Fatalf("the listener's accept queue holds %d connections during the pause, want 1", n)
			}
			s.ResumeAccept()
			if err := echoArrives(waiting); err != nil {
				t.Fatalf("the waiting connection after ResumeAccept: %v", err)
			}
			if n := acceptQueued(t, s); n != 0 {
				t.Errorf("the accept queue holds %d connections after ResumeAccept served the waiting one", n)
			}
		})
	}
}

// acceptQueued returns how many connections wait in the accept queues
// of s's listening sockets (TCP_INFO's tcpi_unacked on a listener).
func acceptQueued(t *testing.T, s *Server) int {
	t.Helper()
	s.mu.Lock()
	lns := append([]*Listener(nil), s.listeners...)
	s.mu.Unlock()
	n := 0
	count := func(fd int) {
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			t.Fatalf("TCP_INFO of a listener: %v", err)
		}
		n += int(info.Unacked)
	}
	for _, ln := range lns {
		if ln.nl != nil {
			rc, err := ln.nl.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			rc.Control(func(fd uintptr) { count(int(fd)) })
			continue
		}
		for _, lfd := range ln.fds {
			count(lfd.fd)
		}
	}
	return n
}
