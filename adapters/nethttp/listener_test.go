package nethttp

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"github.com/upoll/upoll/netpoll"
)

// TestAcceptCloseUnblocks checks that Close wakes a blocked Accept with an
// error that is net.ErrClosed, and that later Accepts fail the same way.
func TestAcceptCloseUnblocks(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		ln := st.listenTB(t)
		errc := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if c != nil {
				c.Close()
			}
			errc <- err
		}()
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-errc:
			t.Fatalf("Accept returned %v with no connection pending", err)
		default:
		}
		ln.Close()
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Accept after Close = %v; want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock Accept")
		}
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept on a closed listener = %v; want net.ErrClosed", err)
		}
	})
}

// TestAcceptAddrs checks the accepted conn's addresses against the dialer's.
func TestAcceptAddrs(t *testing.T) {
	forEachStack(t, func(t *testing.T, st stack) {
		ln := st.listenTB(t)
		srv, cli := connPair(t, ln, st)
		if srv.LocalAddr().String() != ln.Addr().String() {
			t.Errorf("accepted LocalAddr = %v, listener Addr = %v", srv.LocalAddr(), ln.Addr())
		}
		if srv.RemoteAddr().String() != cli.LocalAddr().String() {
			t.Errorf("accepted RemoteAddr = %v, client LocalAddr = %v", srv.RemoteAddr(), cli.LocalAddr())
		}
		if _, ok := srv.LocalAddr().(*net.TCPAddr); !ok {
			t.Errorf("LocalAddr is %T, want *net.TCPAddr", srv.LocalAddr())
		}
	})
}

// TestServeSurvivesEMFILE runs the process out of file descriptors while a
// client waits in the accept queue. The listener must report that as a
// temporary error (or ride it out itself) so http.Server.Serve keeps going
// and answers the client once descriptors are free again.
//
// The soft RLIMIT_NOFILE is lowered to a little above what is open, so the
// table fills with a few dozen files wherever the hard limit is (containers
// often allow a million, which filling by hand would not reach), and the
// test checks that the server's accept really met EMFILE: the standard
// library logs it, netpoll counts an accept backoff. The test does not run
// in parallel with others; the limit is restored before it reads the
// response.
func TestServeSurvivesEMFILE(t *testing.T) {
	for _, st := range stacks() {
		t.Run(st.name, func(t *testing.T) {
			testutil.CheckLeaks(t)
			e := newHTTPEnv(t, st, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			}), nil)
			// Evidence that accept met EMFILE, per stack.
			sawEMFILE := func() bool { return strings.Contains(e.log.String(), "too many open files") }
			if srv := Server(e.ln); srv != nil {
				sawEMFILE = func() bool { return srv.Stats().AcceptBackoffs > 0 }
			}
			soft, hard, err := testutil.NofileLimit()
			if errors.Is(err, errors.ErrUnsupported) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			restore := func() {
				if err := testutil.SetNofileLimit(soft, hard); err != nil {
					t.Errorf("restore RLIMIT_NOFILE: %v", err)
				}
			}
			low := uint64(testutil.FDs(t) + 64)
			if low > soft {
				t.Skipf("soft fd limit %d too low to lower", soft)
			}
			if err := testutil.SetNofileLimit(low, hard); err != nil {
				t.Fatal(err)
			}
			var fillers []*os.File
			closeFillers := func() {
				for _, f := range fillers {
					f.Close()
				}
				fillers = nil
			}
			t.Cleanup(closeFillers)
			t.Cleanup(restore)
			// Fill the fd table, then free exactly one fd for the client's
			// socket (dialed with the standard library, which needs no more),
			// so the server's accept is the call that meets EMFILE. Another
			// goroutine of the process may free an fd meanwhile (an earlier
			// test's connection finishing its lingering close): accept then
			// succeeds without meeting EMFILE, and the attempt is made again.
			var c net.Conn
			var br *bufio.Reader
			for attempt := 1; ; attempt++ {
				full := false
				for range low + 1 {
					f, err := os.Open(os.DevNull)
					if err != nil {
						if !errors.Is(err, syscall.EMFILE) {
							t.Fatalf("filling the fd table: %v", err)
						}
						full = true
						break
					}
					fillers = append(fillers, f)
				}
				if !full || len(fillers) == 0 {
					t.Fatalf("opened %d files under a limit of %d without EMFILE", len(fillers), low)
				}
				fillers[len(fillers)-1].Close()
				fillers = fillers[:len(fillers)-1]
				var err error
				c, err = net.DialTimeout("tcp", e.addr, 5*time.Second)
				if err != nil {
					t.Fatalf("dial with one free fd: %v", err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(testDeadline))
				br = bufio.NewReader(c)
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				if testutil.WaitFor(5*time.Second, sawEMFILE) {
					break
				}
				if attempt == 3 {
					t.Fatalf("no sign that the server's accept met EMFILE while the fd table was full "+
						"(std: logged, upoll: an accept backoff counted), %d attempts; log %q", attempt, e.log.String())
				}
				closeFillers()
				c.Close()
			}
			closeFillers()
			restore()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no response after the fd table drained: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "ok" {
				t.Fatalf("body = %q", body)
			}
			c.Close()
			t.Logf("server log: %q", e.log.String())
		})
	}
}

// TestListenOptions checks that options reach the pollers and that the
// caller's own OnConnect and OnDisconnect hooks still run.
func TestListenOptions(t *testing.T) {
	var connected, disconnected atomic.Int64
	ln, err := Listen("tcp", "127.0.0.1:0",
		netpoll.WithPollers(3),
		netpoll.WithOnConnect(func(*netpoll.Conn) { connected.Add(1) }),
		netpoll.WithOnDisconnect(func(*netpoll.Conn, error) { disconnected.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := Server(ln)
	if srv != nil && srv.Config().Backend == netpoll.BackendStd {
		t.Skip("backend std (UPOLL): it has no pollers to count")
	}
	if srv == nil || srv.Config().Pollers != 3 || len(srv.Stats().PerPoller) != 3 {
		t.Fatalf("Server(ln) = %v, want a netpoll.Server with 3 pollers", srv)
	}
	if Server(stdStack().listenTB(t)) != nil {
		t.Error("Server of a standard listener is not nil")
	}
	s, c := connPair(t, ln, upollStack())
	pingPong(t, c, s)
	s.Close()
	if !testutil.WaitFor(5*time.Second, func() bool { return disconnected.Load() == 1 }) {
		t.Fatalf("OnDisconnect ran %d times, want 1", disconnected.Load())
	}
	if connected.Load() != 1 {
		t.Fatalf("OnConnect ran %d times, want 1", connected.Load())
	}
}

// TestListenCloseAtOnce closes listeners right after Listen, racing the
// goroutine that starts serving them: Accept must still say net.ErrClosed
// and nothing may be left running.
func TestListenCloseAtOnce(t *testing.T) {
	testutil.CheckLeaks(t)
	for range 50 {
		ln, err := Listen("tcp", "127.0.0.1:0", netpoll.WithPollers(1))
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v; want net.ErrClosed", err)
		}
	}
}

// TestAcceptQueueOverflow connects more clients than the accept queue holds
// before anyone calls Accept: the pollers accept until the queue is full
// and leave the rest in the kernel's backlog; every connection must still
// be handed out, in working order, and closing the listener with some
// never accepted must close those (the client sees EOF, or a reset for
// one still in the backlog, as with Go's listener) and leave nothing
// behind.
func TestAcceptQueueOverflow(t *testing.T) {
	testutil.CheckLeaks(t)
	const extra = 64
	ln, err := Listen("tcp", "127.0.0.1:0", netpoll.WithPollers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := Server(ln)
	clients := make([]net.Conn, 0, acceptQueue+2*extra)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range acceptQueue + 2*extra {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	if !testutil.WaitFor(10*time.Second, func() bool { return srv.Stats().LiveConns >= int64(acceptQueue) }) {
		t.Fatalf("server holds %d conns, want the queue's %d", srv.Stats().LiveConns, acceptQueue)
	}
	time.Sleep(200 * time.Millisecond)
	if n := srv.Stats().LiveConns; n >= int64(len(clients)) {
		t.Fatalf("server holds all %d conns with a queue of %d and no Accept: it did not stop accepting", n, acceptQueue)
	}
	// Accept all but the last extra ones; each must carry its client's bytes.
	byAddr := make(map[string]net.Conn, len(clients))
	for _, c := range clients {
		byAddr[c.LocalAddr().String()] = c
	}
	for i := range acceptQueue + extra {
		sc, err := ln.Accept()
		if err != nil {
			t.Fatalf("Accept %d: %v", i, err)
		}
		cc := byAddr[sc.RemoteAddr().String()]
		if cc == nil {
			t.Fatalf("Accept %d: unknown peer %v", i, sc.RemoteAddr())
		}
		delete(byAddr, sc.RemoteAddr().String())
		msg := []byte(sc.RemoteAddr().String())
		if _, err := cc.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(sc, got); err != nil || string(got) != string(msg) {
			t.Fatalf("conn %d read %q, %v; want %q", i, got, err, msg)
		}
		sc.Close()
	}
	if len(byAddr) != extra {
		t.Fatalf("%d conns not accepted, want %d", len(byAddr), extra)
	}
	ln.Close()
	for _, cc := range byAddr {
		cc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := cc.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("never-accepted conn after listener Close: Read = %d, %v; want EOF or a reset", n, err)
		}
	}
}

// TestConnectBurstGoroutines checks that a burst of connects costs no
// goroutines of its own on the server side: the listener's hooks run on
// the pollers, so after 2,000 connects the process holds about what it
// held before plus one goroutine per accepted conn (the test's reader).
// With the hooks on the pool it held several hundred idle workers more.
func TestConnectBurstGoroutines(t *testing.T) {
	skipStdBackend(t, "OnConnect runs on pool workers there, which idle until they expire")
	const n = 2000
	ln, err := Listen("tcp", "127.0.0.1:0", netpoll.WithPollers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	before := runtime.NumGoroutine()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	clients := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	servers := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range servers {
			c.Close()
		}
	}()
	timeout := time.After(10 * time.Second)
	for len(servers) < n {
		select {
		case c := <-accepted:
			servers = append(servers, c)
		case <-timeout:
			t.Fatalf("accepted %d of %d", len(servers), n)
		}
	}
	// The accept loop is one goroutine; allow a few for the runtime.
	if grew := runtime.NumGoroutine() - before; grew > 20 {
		t.Fatalf("%d connects left %d more goroutines; want about 1", n, grew)
	}
}
