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
// per-connection pool dispatch serve one echo exchange.
func ExampleServer_Stats() {
	opts := []netpoll.Option{
		netpoll.WithPollers(2),
		netpoll.WithTrigger(netpoll.EdgeTriggered),
		netpoll.WithWait(netpoll.WaitRuntime),
		netpoll.WithDispatch(netpoll.DispatchEach),
	}
	ln, err := netpoll.Listen("tcp", "127.0.0.1:0", opts...)
	if err != nil {
		panic(err)
	}
	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w.WriteBinary(b)
		r.Release()
		return w.Flush()
	}, opts...)
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	c.Write([]byte("ping"))
	io.ReadFull(c, make([]byte, 4))
	c.Close()

	st := srv.Stats()
	cfg := srv.Config()
	fmt.Println(cfg.Trigger, cfg.Wait, cfg.Dispatch, len(st.PerPoller))
	fmt.Println(st.BytesIn, st.TotalConns)
	// Output:
	// edge runtime each 2
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

// A Server with a handler starts one poller per P; one without (accept
// mode, as the nethttp adapter uses) a quarter as many, at least one.
// WithPollers or UPOLL=pollers=N decide when given.
func ExampleDefaultAcceptPollers() {
	s, err := netpoll.NewServer(nil) // accept mode
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	fmt.Println(s.Config().Pollers == netpoll.DefaultAcceptPollers())
	fmt.Println(netpoll.DefaultAcceptPollers() >= 1, netpoll.DefaultAcceptPollers() <= netpoll.DefaultHandlerPollers())
	// Output:
	// true
	// true true
}
