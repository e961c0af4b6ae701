package netpoll_test

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/upoll/upoll/netpoll"
)

// The experiment switches are options; Stats shows what the pollers
// did. Here two pollers, edge triggering, the runtime wait and the
// per-connection pool dispatch serve one echo exchange. The switches
// are the poller backends', so the backend is named too: given in code,
// it wins over UPOLL's, and under UPOLL=backend=std the switches would
// not apply (Config would show std's single accept loop).
func ExampleServer_Stats() {
	echo := func(c *netpoll.Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w.WriteBinary(b)
		r.Release()
		return w.Flush()
	}
	srv, err := netpoll.NewServer(echo,
		netpoll.WithBackend(netpoll.BackendEpoll),
		netpoll.WithPollers(2),
		netpoll.WithTrigger(netpoll.EdgeTriggered),
		netpoll.WithWait(netpoll.WaitRuntime),
		netpoll.WithDispatch(netpoll.DispatchEach))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ln, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	c.Write([]byte("ping"))
	io.ReadFull(c, make([]byte, 4))
	c.Close()

	st := srv.Stats()
	cfg := srv.Config()
	fmt.Println(cfg.Backend, cfg.Trigger, cfg.Wait, cfg.Dispatch, len(st.PerPoller))
	fmt.Println(st.BytesIn, st.TotalConns)
	// Output:
	// epoll edge runtime each 2
	// 4 1
}

// ParseEnv reads the UPOLL syntax; a bad entry is an *EnvError naming
// its key, which NewServer reports when it finds one in the UPOLL
// environment variable.
func ExampleParseEnv() {
	opts, err := netpoll.ParseEnv("trigger=et, dispatch=inline, pollers=4")
	fmt.Println(len(opts), err)

	_, err = netpoll.ParseEnv("wait=sometimes")
	var ee *netpoll.EnvError
	fmt.Println(errors.As(err, &ee), ee.Key)
	// Output:
	// 3 <nil>
	// true wait
}

// A Server with a handler starts one poller per two Ps; one without
// (accept mode, as the nethttp adapter uses) one per four, at least one
// either way. WithPollers or UPOLL=pollers=N decide when given.
// BackendStd has no pollers: its Config shows one accept loop.
func ExampleDefaultAcceptPollers() {
	s, err := netpoll.NewServer(nil) // accept mode
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	cfg := s.Config()
	fmt.Println(cfg.Backend == netpoll.BackendStd || cfg.Pollers == netpoll.DefaultAcceptPollers())
	fmt.Println(netpoll.DefaultAcceptPollers() >= 1, netpoll.DefaultAcceptPollers() <= netpoll.DefaultHandlerPollers())
	// Output:
	// true
	// true true
}

// Server.Listen opens the listener as the server's own options ask, so
// that they are given once, to NewServer: here two pollers, each
// accepting on its own SO_REUSEPORT socket of the same port, on the
// epoll backend (BackendStd, which UPOLL=backend=std would otherwise
// choose, has one accept loop and no SO_REUSEPORT sockets).
func ExampleServer_Listen() {
	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w.WriteBinary(b)
		r.Release()
		return w.Flush()
	}, netpoll.WithBackend(netpoll.BackendEpoll), netpoll.WithPollers(2), netpoll.WithReusePort(true))
	if err != nil {
		panic(err)
	}
	defer srv.Close() // it closes the listener too
	ln, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	for range 4 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		c.Write([]byte("ping"))
		io.ReadFull(c, make([]byte, 4))
		c.Close()
	}
	cfg := srv.Config()
	fmt.Println(cfg.Backend, cfg.Pollers, cfg.ReusePort, srv.Stats().TotalConns)
	// Output: epoll 2 true 4
}
