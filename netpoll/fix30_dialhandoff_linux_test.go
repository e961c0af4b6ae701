package netpoll

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// stalledListener returns the address of a listener on 127.0.0.1 whose
// accept queue is full and never drained: a connect to it gets no answer
// (the kernel drops its SYN), so it stays in progress until its dial
// gives up.
func stalledListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port)).String()
	// Fill the queue: the dials that connect sit in it; the first that
	// times out shows it full.
	for i := 0; ; i++ {
		if i == 8 {
			t.Fatal("the accept queue of a listener with backlog 0 took 8 connections")
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// A handler that dials through a Dialer on its own server passes its
// poller's duty on before it waits for the connect, as a handler about
// to wait for input does: the connect's outcome is the poller's to read,
// and the poller's other connections are not to wait for the watchdog
// meanwhile. The dial's wait did not look at whose handler called it, so
// the leader slept in waitConnect and only the watchdog took the duty
// (WatchdogHandoffs, one to two ticks later).
func TestDialFromHandlerHandsOff(t *testing.T) {
	skipStd(t, "the dial of BackendStd waits in Go's net, not on the poller")
	stalled := stalledListener(t)
	var s *Server
	started := make(chan struct{}) // s is set
	h := dialOrEchoHandler(func() *Dialer {
		<-started
		return &Dialer{Server: s, Timeout: 150 * time.Millisecond}
	}, stalled)
	s, addr := startServer(t, h, WithPollers(1), WithDispatch(DispatchHandoff))
	close(started)

	dialer := dialTCP(t, addr)
	pinger := dialTCP(t, addr)
	reply, pong := make([]byte, 16), make([]byte, 1)
	for attempt := range 3 {
		before := s.Stats()
		pinger.SetDeadline(time.Now().Add(5 * time.Second))
		dialer.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := dialer.Write([]byte("D")); err != nil {
			t.Fatal(err)
		}
		// Ping-pong on the same poller while the handler's dial waits.
		done := make(chan error, 1)
		go func() {
			n, err := dialer.Read(reply)
			if err == nil && string(reply[:n]) != "failed" {
				err = errors.New("the dial to a full accept queue ended in " + string(reply[:n]))
			}
			done <- err
		}()
		var slowest time.Duration
		pongs, dialed := 0, false
		for ; !dialed && pongs < 10000; pongs++ {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				dialed = true
				continue
			default:
			}
			start := time.Now()
			if _, err := pinger.Write([]byte("p")); err != nil {
				t.Fatal(err)
			}
			if _, err := pinger.Read(pong); err != nil {
				t.Fatal(err)
			}
			slowest = max(slowest, time.Since(start))
		}
		if !dialed {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		after := s.Stats()
		direct, watchdog := handoffsSince(before, after)
		t.Logf("attempt %d: %d round trips during the dial, slowest %v; hand-offs: %d direct, %d by the watchdog", attempt, pongs, slowest, direct, watchdog)
		if direct > 0 {
			return
		}
	}
	t.Error("a handler waiting for its dial's connect kept its poller's duty: no direct hand-off in 3 dials (only the watchdog's)")
}
