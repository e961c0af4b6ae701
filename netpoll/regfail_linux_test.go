package netpoll

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/upoll/upoll/internal/testutil"
)

// TestRegisterFailureNeverCounted: a connection whose registration
// with the kernel fails was never registered, and TotalConns
// ("connections ever registered") never counts it, not even for a
// moment. The failure here is the kernel's: the descriptor is already
// in the poller's set (EEXIST), which is the one way to make a
// registration of a real socket fail on purpose. Before, register
// counted the connection before its EPOLL_CTL_ADD (so that a first
// event handled before the call returned found it counted) and counted
// it off after the failure: a reader of Stats meanwhile saw one
// connection too many.
func TestRegisterFailureNeverCounted(t *testing.T) {
	for _, be := range testBackends(false) {
		t.Run(be.String(), func(t *testing.T) {
			testutil.CheckLeaks(t)
			s, err := NewServer(echoHandler, WithBackend(be), WithPollers(1))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fds[1])
			p := s.pollers[0]
			first := newConn(fds[0], p, &s.owner, "unix")
			first.flags.Or(fTotalDue)
			if err := s.admit(func() error { return p.register(first) }); err != nil {
				unix.Close(fds[0])
				t.Fatal(err)
			}
			defer first.Close()
			if n := p.ctr.totalConns.Load(); n != 1 {
				t.Fatalf("TotalConns %d after one registration, want 1", n)
			}

			var seen atomic.Uint64 // the most the watcher saw
			stop, started := make(chan struct{}), make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				close(started)
				for {
					if n := p.ctr.totalConns.Load(); n > seen.Load() {
						seen.Store(n)
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
			<-started
			const tries = 2000
			deadline := time.Now().Add(5 * time.Second)
			failed := 0
			for i := 0; i < tries && time.Now().Before(deadline); i++ {
				c := newConn(fds[0], p, &s.owner, "unix")
				c.flags.Or(fTotalDue)
				if err := p.register(c); err == nil {
					t.Fatal("a second registration of one descriptor succeeded")
				}
				failed++
			}
			close(stop)
			wg.Wait()
			if n := p.ctr.totalConns.Load(); n != 1 {
				t.Errorf("TotalConns %d after %d failed registrations, want 1", n, failed)
			}
			if n := seen.Load(); n != 1 {
				t.Errorf("TotalConns read %d during %d failed registrations, want 1 throughout", n, failed)
			}
			if n := p.ctr.liveConns.Load(); n != 1 {
				t.Errorf("LiveConns %d after the failed registrations, want 1", n)
			}
		})
	}
}
