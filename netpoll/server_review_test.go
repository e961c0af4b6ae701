package netpoll

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// TestShutdownWaitsForOwnersClose: Shutdown, racing an owner's Close in
// accept mode, returns nil only once that connection's OnDisconnect has
// returned, as documented. Before, the close destroyed the connection
// (and left the live count) before it counted the hook as due, and
// Shutdown could return in between (within 200 iterations in 5 of 5
// runs).
func TestShutdownWaitsForOwnersClose(t *testing.T) {
	deadline := time.Now().Add(4 * time.Second)
	for i := 0; i < 400 && time.Now().Before(deadline); i++ {
		var hookRan atomic.Bool
		conns := make(chan *Conn, 1)
		s, err := NewServer(nil, WithPollers(1), WithOnConnect(func(c *Conn) { conns <- c }),
			WithOnDisconnect(func(c *Conn, err error) {
				time.Sleep(20 * time.Millisecond)
				hookRan.Store(true)
			}))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(ln)
		nc, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c := <-conns
		start := make(chan struct{})
		res := make(chan error, 1)
		go func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res <- s.Shutdown(ctx)
		}()
		close(start)
		// Spread the Close over Shutdown's first checks.
		for j := 0; j < (i%64)*200; j++ {
			_ = j
		}
		c.Close()
		err = <-res
		ran := hookRan.Load()
		nc.Close()
		if err == nil && !ran {
			t.Fatalf("iteration %d: Shutdown returned nil before the closed connection's OnDisconnect ran", i)
		}
		// let the hook finish before the next round
		for !hookRan.Load() {
			time.Sleep(time.Millisecond)
		}
	}
}

// TestChurnCountersReturnToZero: accept mode under MaxConns and a tight budget,
// clients and owners closing at random while paused or reading; once
// every connection is gone the gauges must be back to zero and the
// MaxConns places all returned.
func TestChurnCountersReturnToZero(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			const maxConns = 6
			s, addr, conns := startAccept(t, WithTrigger(trig), WithPollers(2), WithMaxConns(maxConns),
				WithBufferBudget(8<<10+64<<10))
			stopOwners := make(chan struct{})
			ownersDone := make(chan struct{})
			go func() {
				defer close(ownersDone)
				i := 0
				for {
					select {
					case <-stopOwners:
						return
					case c := <-conns:
						i++
						go func(c *Conn, i int) {
							buf := make([]byte, 1500)
							switch i % 4 {
							case 0: // never reads; closes after a while
								time.Sleep(time.Duration(i%7) * 5 * time.Millisecond)
								c.Close()
							case 1: // reads some, then closes
								c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
								for k := 0; k < 5; k++ {
									if _, err := c.Read(buf); err != nil {
										break
									}
								}
								c.Close()
							case 2: // reads until EOF/error
								c.SetReadDeadline(time.Now().Add(time.Second))
								for {
									if _, err := c.Read(buf); err != nil {
										break
									}
								}
								c.Close()
							case 3: // reader blocked for more than is there
								c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
								c.Reader().Next(32 << 10)
								c.Close()
							}
						}(c, i)
					}
				}
			}()
			deadline := time.Now().Add(time.Second)
			clientsDone := make(chan struct{})
			const clients = 16
			for k := 0; k < clients; k++ {
				go func(k int) {
					defer func() { clientsDone <- struct{}{} }()
					payload := make([]byte, 16<<10)
					for n := 0; time.Now().Before(deadline); n++ {
						nc, err := net.DialTimeout("tcp", addr, time.Second)
						if err != nil {
							continue
						}
						nc.SetDeadline(time.Now().Add(300 * time.Millisecond))
						for j := 0; j < (k+n)%5; j++ {
							if _, err := nc.Write(payload); err != nil {
								break
							}
						}
						if (k+n)%3 == 0 {
							nc.(*net.TCPConn).SetLinger(0) // reset
						}
						nc.Close()
					}
				}(k)
			}
			for k := 0; k < clients; k++ {
				<-clientsDone
			}
			time.Sleep(1500 * time.Millisecond) // owners' deadlines pass
			close(stopOwners)
			<-ownersDone
			// From now on close whatever is accepted (the backlog may still
			// hold connections the clients already closed).
			var st Stats
			ok := false
			for end := time.Now().Add(8 * time.Second); time.Now().Before(end); {
				select {
				case c := <-conns:
					c.Close()
					continue
				case <-time.After(20 * time.Millisecond):
				}
				st = s.Stats()
				// BackendStd's accept loop holds the place of the next
				// connection while it waits in Accept.
				held := s.gate.held.Load()
				if s.owner.cfg.Backend == BackendStd {
					held = max(held-1, 0)
				}
				if st.LiveConns == 0 && st.BufferedIn == 0 && st.BufferedOut == 0 && st.PausedByBudget == 0 &&
					st.PausedByBound == 0 && held == 0 {
					ok = true
					break
				}
			}
			t.Logf("total %d refused %d pauses %d; budget total %d npaused %d", st.TotalConns, st.Refused,
				st.AcceptPauses, s.owner.budget.total.Load(), s.owner.budget.npaused.Load())
			if !ok {
				for _, p := range s.pollers {
					p.reg.each(func(c *Conn) {
						t.Logf("live conn fd %d: flags %#x fdst %#x hstate %#x in %d out %d closed %v", c.fd, c.flags.Load(), c.fdst.v.Load(), c.hstate.Load(), c.in.Len(), c.out.Len(), c.fdst.closed())
					})
				}
				t.Fatalf("after every connection closed: live %d bufIn %d bufOut %d pausedBudget %d pausedBound %d held %d",
					st.LiveConns, st.BufferedIn, st.BufferedOut, st.PausedByBudget, st.PausedByBound, s.gate.held.Load())
			}
			// The server still accepts (no place leaked).
			for k := 0; k < maxConns+2; k++ {
				nc, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				c := recvConn(t, conns)
				c.Close()
				nc.Close()
			}
		})
	}
}

// TestServeCyclesDoNotAccumulate: a long-lived Server that opens,
// serves and closes listeners over and over (a rebind, a port that comes
// and goes) keeps none of the closed Listeners nor the finished
// acceptors. Before, it kept all of them until it closed.
func TestServeCyclesDoNotAccumulate(t *testing.T) {
	s, err := NewServer(echoHandler, WithPollers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const cycles = 500
	for range cycles {
		ln, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		time.Sleep(100 * time.Microsecond)
		ln.Close()
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after Listener.Close")
		}
	}
	s.mu.Lock()
	nl, na := len(s.listeners), len(s.acceptors)
	s.mu.Unlock()
	s.pollers[0].lmu.Lock()
	np := len(s.pollers[0].listeners)
	s.pollers[0].lmu.Unlock()
	t.Logf("after %d listen/serve/close cycles: s.listeners %d, s.acceptors %d, poller listeners slots %d", cycles, nl, na, np)
	if nl > 1 || na > 1 {
		t.Fatalf("closed listeners and finished acceptors accumulate: s.listeners %d, s.acceptors %d after %d cycles", nl, na, cycles)
	}
}

// TestListenerCloseStopsAccepting: after a Listener's Close returns, its
// Server accepts no more connections from its socket, also when the
// socket is a WrapListener's duplicate, shared with the caller's
// listener and not shut down by Close. Before, an accept batch under way
// took up to 127 more of the caller's connections.
func TestListenerCloseStopsAccepting(t *testing.T) {
	for _, wrapped := range []bool{false, true} {
		t.Run(map[bool]string{false: "own", true: "wrapped"}[wrapped], func(t *testing.T) { testCloseStopsAccepting(t, wrapped) })
	}
}

func testCloseStopsAccepting(t *testing.T, wrapped bool) {
	worst := uint64(0)
	for round := 0; round < 20; round++ {
		s, err := NewServer(nil, WithPollers(1), WithOnConnect(func(c *Conn) { c.Close() }))
		if err != nil {
			t.Fatal(err)
		}
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var ln *Listener
		if wrapped {
			ln, err = s.WrapListener(tl)
		} else {
			tl.Close()
			ln, err = s.Listen("tcp", "127.0.0.1:0")
			tl = nopCloseAddr{ln.Addr()}
		}
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(ln)
		stop := make(chan struct{})
		dialers := make(chan struct{}, 4)
		for range 4 {
			go func() {
				defer func() { dialers <- struct{}{} }()
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("tcp", tl.Addr().String(), time.Second)
					if err == nil {
						c.Close()
					}
				}
			}()
		}
		for s.Stats().TotalConns < 200 {
			time.Sleep(time.Millisecond)
		}
		ln.Close()
		before := s.Stats().TotalConns
		time.Sleep(50 * time.Millisecond)
		after := s.Stats().TotalConns
		close(stop)
		for range 4 {
			<-dialers
		}
		s.Close()
		tl.Close()
		worst = max(worst, after-before)
	}
	if worst > 1 {
		t.Fatalf("the Server accepted %d connections from the shared socket after the wrapper's Close returned", worst)
	}
}

type nopCloseAddr struct{ a net.Addr }

func (n nopCloseAddr) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (n nopCloseAddr) Close() error              { return nil }
func (n nopCloseAddr) Addr() net.Addr            { return n.a }

// TestServeClosedListenerUnlists: a Listener closed before its Serve
// began (the goroutine that was to serve it ran late) is not kept among
// the Server's listeners; Serve says it is closed.
func TestServeClosedListenerUnlists(t *testing.T) {
	skipStd(t, "native listeners")
	s, err := NewServer(echoHandler, WithPollers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 3 {
		ln, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if err := s.Serve(ln); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve of a closed listener: %v, want net.ErrClosed", err)
		}
	}
	s.mu.Lock()
	n := len(s.listeners)
	s.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d closed listeners kept by the Server", n)
	}
}
