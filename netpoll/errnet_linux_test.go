package netpoll

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// loopbackFor returns the loopback address to listen on for network,
// or "" where the host has no IPv6 loopback for "tcp6".
func loopbackFor(t *testing.T, network string) string {
	t.Helper()
	if network != "tcp6" {
		return "127.0.0.1:0"
	}
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return ""
	}
	l.Close()
	return "[::1]:0"
}

// connErrors returns the errors of c's Read and Write once their
// deadlines have passed, then, once c is closed, of Read, Write, a
// second Close and the deadline setters.
func connErrors(c net.Conn) map[string]error {
	errs := map[string]error{}
	buf := make([]byte, 8)
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, errs["read past deadline"] = c.Read(buf)
	c.SetWriteDeadline(time.Now().Add(-time.Second))
	_, errs["write past deadline"] = c.Write(buf)
	c.Close()
	_, errs["read after close"] = c.Read(buf)
	_, errs["write after close"] = c.Write(buf)
	errs["close after close"] = c.Close()
	errs["SetDeadline after close"] = c.SetDeadline(time.Time{})
	errs["SetReadDeadline after close"] = c.SetReadDeadline(time.Time{})
	errs["SetWriteDeadline after close"] = c.SetWriteDeadline(time.Time{})
	return errs
}

// connShape is shapeOf(err) with the OpError's addresses named by what
// they are of c (its local address, its remote one), so that errors of
// two connections compare.
func connShape(err error, c net.Conn) errShape {
	s := shapeOf(err)
	role := func(a string) string {
		switch a {
		case "<nil>":
			return a
		case addrString(c.LocalAddr()):
			return "local"
		case addrString(c.RemoteAddr()):
			return "remote"
		}
		return "other " + a
	}
	s.Source, s.Addr = role(s.Source), role(s.Addr)
	return s
}

// checkConnErrors fails t unless the errors of up (connErrors) have the
// shapes of those of goc, a Go connection made the same way.
func checkConnErrors(t *testing.T, what string, up, goc net.Conn) {
	t.Helper()
	ue, ge := connErrors(up), connErrors(goc)
	for k, g := range ge {
		u := ue[k]
		if us, gs := connShape(u, up), connShape(g, goc); us != gs {
			t.Errorf("%s, %s:\n upoll %v\n  %+v\n Go    %v\n  %+v", what, k, u, us, g, gs)
		}
	}
}

// The errors of a connection dialed on "tcp4" or "tcp6", and of one
// accepted by a listener on that network, name it in their OpError's
// Net, as Go's net does, on every backend; so do the dial's own errors.
func TestConnErrorsNameNetwork(t *testing.T) {
	for _, network := range []string{"tcp", "tcp4", "tcp6"} {
		laddr := loopbackFor(t, network)
		if laddr == "" {
			t.Logf("%s: no IPv6 loopback", network)
			continue
		}
		// A Go listener that accepts and holds every connection until
		// the test ends; its peer conns are what the dialed ones are
		// compared with.
		gl, err := net.Listen(network, laddr)
		if err != nil {
			t.Fatal(err)
		}
		held := make(chan net.Conn, 16)
		done := make(chan struct{})
		t.Cleanup(func() {
			gl.Close()
			<-done
			for len(held) > 0 {
				(<-held).Close()
			}
		})
		go func() {
			defer close(done)
			for {
				c, err := gl.Accept()
				if err != nil {
					return
				}
				select {
				case held <- c:
				default:
					c.Close()
				}
			}
		}()
		goDial := func() net.Conn {
			c, err := net.DialTimeout(network, gl.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		// A port on which nothing listens, for a refused dial.
		dead, err := net.Listen(network, laddr)
		if err != nil {
			t.Fatal(err)
		}
		deadAddr := dead.Addr().String()
		dead.Close()
		_, goRefused := net.DialTimeout(network, deadAddr, 5*time.Second)

		// Go's accepted connection, of a listener on network.
		gal, err := net.Listen(network, laddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { gal.Close() })
		goAccepted := func() net.Conn {
			peer, err := net.DialTimeout(network, gal.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { peer.Close() })
			gal.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
			c, err := gal.Accept()
			if err != nil {
				t.Fatal(err)
			}
			return c
		}

		for _, b := range testBackends(true) {
			what := fmt.Sprintf("%v %s", b, network)
			d := Dialer{Options: []Option{WithBackend(b)}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			c, err := d.DialContext(ctx, network, gl.Addr().String())
			cancel()
			if err != nil {
				t.Fatalf("%s: dial: %v", what, err)
			}
			checkConnErrors(t, what+" dialed", c, goDial())

			_, err = d.DialContext(context.Background(), network, deadAddr)
			if us, gs := shapeOf(err), shapeOf(goRefused); us != gs {
				t.Errorf("%s refused dial:\n upoll %v\n  %+v\n Go    %v\n  %+v", what, err, us, goRefused, gs)
			}

			conns := make(chan *Conn, 1)
			s, err := NewServer(nil, WithBackend(b), WithOnConnect(func(c *Conn) { conns <- c }))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := s.Listen(network, laddr)
			if err != nil {
				s.Close()
				t.Fatal(err)
			}
			go s.Serve(ln)
			peer, err := net.DialTimeout(network, ln.Addr().String(), 5*time.Second)
			if err != nil {
				s.Close()
				t.Fatal(err)
			}
			var ac *Conn
			select {
			case ac = <-conns:
			case <-time.After(5 * time.Second):
				s.Close()
				t.Fatalf("%s: no connection accepted", what)
			}
			checkConnErrors(t, what+" accepted", ac, goAccepted())
			peer.Close()
			s.Close()
		}
	}
}

// TestNetworkFlagBits: fTCP4 and fTCP6, defined apart from conn.go's
// list of flags (like budget.go's and uring.go's), share their bits
// with no other flag.
func TestNetworkFlagBits(t *testing.T) {
	flags := []uint32{fRegistered, fPeerEOF, fBroken, fWrShut, fInPaused, fConnecting,
		fReaderWaiting, fConnectHook, fLinger, fLingerDone, fUnix,
		fBudgetPaused, fLeftInput, fMaskStale, fSending, fFlushQueued, fShutPending,
		fWriterWaiting, fTCP4, fTCP6}
	var seen uint32
	for _, f := range flags {
		if f == 0 || f&(f-1) != 0 || seen&f != 0 {
			t.Fatalf("flag %#x is not a bit of its own (bits so far %#x)", f, seen)
		}
		seen |= f
	}
}
