package netpoll

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// gateCase is a configuration the accept gate is tested on; env, when
// set, is put in the environment for it.
type gateCase struct {
	name     string
	env, val string
	opts     []Option
}

// gateCases are the backends the accept gate is tested on: each native
// backend with two pollers and a listening socket each (two acceptors
// that take places of one limit at once), BackendStd, and what
// gateExtraCases adds.
func gateCases() []gateCase {
	var cs []gateCase
	for _, b := range testBackends(true) {
		opts := []Option{WithBackend(b)}
		if b != BackendStd {
			opts = append(opts, WithPollers(2), WithReusePort(true))
		}
		cs = append(cs, gateCase{name: b.String(), opts: opts})
		if gateExtraCases != nil {
			cs = append(cs, gateExtraCases(b, opts)...)
		}
	}
	return cs
}

// gateExtraCases, when set by an OS's test file, adds cases for backend
// b with options opts.
var gateExtraCases func(b Backend, opts []Option) []gateCase

// serve starts an echo server of tc with more options, tc's variable
// set for the test.
func (tc gateCase) serve(t *testing.T, more ...Option) (*Server, string) {
	t.Helper()
	if tc.env != "" {
		t.Setenv(tc.env, tc.val)
	}
	return startServer(t, echoHandler, append(tc.opts[:len(tc.opts):len(tc.opts)], more...)...)
}

// serveOne starts tc's echo server and a connection it has served,
// which the test's cleanup closes.
func (tc gateCase) serveOne(t *testing.T) (*Server, string, net.Conn) {
	t.Helper()
	s, addr := tc.serve(t)
	c := dialTCP(t, addr)
	if !echoedWithin(t, c, 5*time.Second) {
		t.Fatal("not served before the pause")
	}
	return s, addr, c
}

// echoedWithin writes one byte on c and reports whether it came back
// within d; an error other than the timeout fails t.
func echoedWithin(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	err := echoByteWithin(c, d)
	if err != nil && !testutil.IsTimeout(err) {
		t.Fatalf("echo: %v", err)
	}
	return err == nil
}

// echoArrives waits up to 5 s for the echo of the byte echoedWithin
// sent on c when it was not served yet.
func echoArrives(c net.Conn) error {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.ReadFull(c, make([]byte, 1))
	return err
}

// TestMaxConns: with MaxConns 3, three connections are served; a fourth
// is connected by the kernel but not served (its byte stays unanswered,
// the server holds three) until one of the three closes, and is then
// served with the byte it sent meanwhile. A burst of 20 short
// connections is then served in full without the server ever holding
// more than 3.
func TestMaxConns(t *testing.T) {
	for _, tc := range gateCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := tc.serve(t, WithMaxConns(3))
			var first []net.Conn
			for range 3 {
				c := dialTCP(t, addr)
				defer c.Close()
				if !echoedWithin(t, c, 5*time.Second) {
					t.Fatalf("connection %d of 3 not served", len(first)+1)
				}
				first = append(first, c)
			}
			fourth := dialTCP(t, addr)
			defer fourth.Close()
			if echoedWithin(t, fourth, 300*time.Millisecond) {
				t.Fatalf("a fourth connection was served with MaxConns 3")
			}
			st := s.Stats()
			if st.LiveConns != 3 || st.AcceptPauses == 0 {
				t.Errorf("at the limit: LiveConns %d, AcceptPauses %d; want 3 and at least 1", st.LiveConns, st.AcceptPauses)
			}
			first[0].Close()
			// The byte written while it waited comes back once it is
			// accepted.
			if err := echoArrives(fourth); err != nil {
				t.Fatalf("the fourth connection after one closed: %v", err)
			}
			for _, c := range first[1:] {
				c.Close()
			}
			fourth.Close()

			// The sampler reads the gate's one count of places held, from
			// before a connection's accept to its destruction. (Summing
			// LiveConns over the pollers, read one after another, can
			// count a connection gone from one poller and its successor on
			// the next: it once read 5.)
			var most atomic.Int64
			stop := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				for i := 0; i < 20000; i++ {
					if n := s.gate.held.Load(); n > most.Load() {
						most.Store(n)
					}
					select {
					case <-stop:
						return
					case <-time.After(500 * time.Microsecond):
					}
				}
			}()
			runEchoClients(t, addr, 20, 1, 64)
			close(stop)
			<-sampled
			if m := most.Load(); m > 3 {
				t.Errorf("the server held %d connections at once with MaxConns 3", m)
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().LiveConns == 0 }) {
				t.Errorf("%d connections left after the clients closed", s.Stats().LiveConns)
			}
		})
	}
}

// TestPauseAccept: a connection that comes while accepting is paused is
// not served, Serve goes on, a connection accepted before is served as
// before, and ResumeAccept serves the waiting one (with what it sent
// meanwhile). Repeated pauses and resumes lose no connection.
func TestPauseAccept(t *testing.T) {
	for _, tc := range gateCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, addr, before := tc.serveOne(t)
			s.PauseAccept()
			s.PauseAccept() // twice is once
			waiting := dialTCP(t, addr)
			defer waiting.Close()
			if echoedWithin(t, waiting, 300*time.Millisecond) {
				t.Fatal("a connection was served while accepting was paused")
			}
			if !echoedWithin(t, before, 5*time.Second) {
				t.Fatal("a connection accepted before the pause is not served")
			}
			if s.Stats().AcceptPauses == 0 {
				t.Error("AcceptPauses = 0 after a listener paused")
			}
			s.ResumeAccept()
			if err := echoArrives(waiting); err != nil {
				t.Fatalf("the waiting connection after ResumeAccept: %v", err)
			}
			for i := range 20 {
				if i%2 == 0 {
					s.PauseAccept()
				}
				c := dialTCP(t, addr)
				s.ResumeAccept()
				if !echoedWithin(t, c, 5*time.Second) {
					t.Fatalf("connection %d not served after ResumeAccept", i)
				}
				c.Close()
			}
		})
	}
}

// TestPauseAcceptBelowLimit: with MaxConns 2 and one connection open, a
// connection that comes during a pause is served at ResumeAccept, while
// the first stays open (under BackendStd an Accept that completes as
// the pause comes holds the second place).
func TestPauseAcceptBelowLimit(t *testing.T) {
	for _, tc := range gateCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := tc.serve(t, WithMaxConns(2))
			first := dialTCP(t, addr)
			defer first.Close()
			if !echoedWithin(t, first, 5*time.Second) {
				t.Fatal("the first connection is not served")
			}
			s.PauseAccept()
			second := dialTCP(t, addr)
			defer second.Close()
			if echoedWithin(t, second, 300*time.Millisecond) {
				t.Fatal("a connection was served while accepting was paused")
			}
			s.ResumeAccept()
			if err := echoArrives(second); err != nil {
				t.Fatalf("the second connection after ResumeAccept, the first still open: %v", err)
			}
		})
	}
}

// A negative MaxConns is a configuration error, in code and in UPOLL.
func TestMaxConnsBad(t *testing.T) {
	if _, err := NewServer(echoHandler, WithMaxConns(-1)); !errors.Is(err, ErrBadConfig) {
		t.Errorf("WithMaxConns(-1): %v, want ErrBadConfig", err)
	}
	t.Setenv(EnvVar, "maxconns=-1")
	if _, err := NewServer(echoHandler); !errors.Is(err, ErrBadEnv) {
		t.Errorf("UPOLL=maxconns=-1: %v, want ErrBadEnv", err)
	}
}

// Connections that a Dialer dials for a Server with MaxConns hold no
// place of the limit: dialing and closing several leaves the limit as
// it was (the second accepted connection still waits at MaxConns 1).
func TestMaxConnsDialed(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			s, addr := startServer(t, echoHandler, WithBackend(b), WithMaxConns(1))
			peer := goServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
			d := &Dialer{Server: s}
			for range 5 {
				c, err := d.DialContext(t.Context(), "tcp", peer)
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			first := dialTCP(t, addr)
			defer first.Close()
			if !echoedWithin(t, first, 5*time.Second) {
				t.Fatal("the first accepted connection is not served")
			}
			second := dialTCP(t, addr)
			defer second.Close()
			if echoedWithin(t, second, 300*time.Millisecond) {
				t.Fatal("a second accepted connection was served at MaxConns 1 after dialed connections closed")
			}
		})
	}
}

// TestPauseAcceptRaces: pauses and resumes every fraction of a
// millisecond while 200 clients connect, then a final ResumeAccept:
// every client is served (none is lost in a pause that came while its
// connection was being accepted, nor left behind an Accept that a
// pause ended under BackendStd).
func TestPauseAcceptRaces(t *testing.T) {
	const clients = 200
	for _, tc := range gateCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, addr := tc.serve(t)
			stop, toggled := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(toggled)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(time.Duration(i%3) * 300 * time.Microsecond):
					}
					if i%2 == 0 {
						s.PauseAccept()
					} else {
						s.ResumeAccept()
					}
				}
			}()
			errs := make(chan error, clients)
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.DialTimeout("tcp", addr, 5*time.Second)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					time.Sleep(50 * time.Millisecond) // past a few toggles
					if err := echoByteWithin(c, 10*time.Second); err != nil {
						errs <- err
					}
				}()
				time.Sleep(200 * time.Microsecond)
			}
			time.Sleep(100 * time.Millisecond)
			close(stop)
			<-toggled
			s.ResumeAccept()
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if failed++; failed <= 3 {
					t.Error(err)
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d clients not served after the last ResumeAccept", failed, clients)
			}
		})
	}
}
