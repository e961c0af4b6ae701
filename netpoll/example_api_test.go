package netpoll_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// Accept mode: a Server without a handler buffers each connection's input
// until its owner reads it, and WithOnConnect hands the owner its
// connections. Listen opens the listener apart from the Server, for a
// program that binds its sockets before it builds what serves them.
func ExampleListen() {
	conns := make(chan *netpoll.Conn, 1)
	srv, err := netpoll.NewServer(nil, netpoll.WithOnConnect(func(c *netpoll.Conn) {
		conns <- c // the hook must not block: the channel has room
	}))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ln, err := netpoll.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))

	sc := <-conns
	defer sc.Close()
	b, err := sc.Reader().Next(5) // waits for all five bytes
	fmt.Println(string(b), err)
	// Output: hello <nil>
}

// WrapListener serves a listener opened by Go's net package (one handed
// over by a supervisor, say): the Server polls a duplicate of its
// descriptor, and the original can be closed on its own.
func ExampleWrapListener() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r := c.Reader()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		c.Writer().WriteBinary(b)
		r.Release()
		return c.Writer().Flush()
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ln, err := srv.WrapListener(l) // the server's backend, whatever selected it
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("wrapped"))
	buf := make([]byte, 7)
	io.ReadFull(c, buf)
	fmt.Println(string(buf))
	// Output: wrapped
}

// Dial connects with the default Dialer; the connection is a net.Conn
// served by a poller, with the nocopy Reader and Writer besides.
func ExampleDial() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		s, err := l.Accept()
		if err == nil {
			s.Write([]byte("greetings"))
			s.Close()
		}
	}()

	c, err := netpoll.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	b, err := c.Reader().Next(9)
	fmt.Println(string(b), err)
	_, err = c.Reader().Next(1)
	fmt.Println(err)
	// Output:
	// greetings <nil>
	// EOF
}

// Shutdown closes each connection once it is idle and returns when all
// are closed: a peer sees its answer, then the end of the stream.
func ExampleServer_Shutdown() {
	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w.WriteBinary(b)
		r.Release()
		return w.Flush()
	})
	if err != nil {
		panic(err)
	}
	ln, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("bye"))
	buf := make([]byte, 3)
	io.ReadFull(c, buf)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println("shutdown:", srv.Shutdown(ctx))
	fmt.Println("serve:", <-served)
	rest, err := io.ReadAll(c)
	fmt.Printf("peer read %q then %q, %v\n", buf, rest, err)
	// Output:
	// shutdown: <nil>
	// serve: netpoll: server closed
	// peer read "bye" then "", <nil>
}

// The hooks bracket each connection's life; OnDisconnect says why it
// ended, here the idle timeout closing a peer that sent nothing.
func ExampleWithOnDisconnect() {
	ended := make(chan error, 1)
	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error { return nil },
		netpoll.WithIdleTimeout(50*time.Millisecond),
		netpoll.WithOnConnect(func(c *netpoll.Conn) { fmt.Println("connected") }),
		netpoll.WithOnDisconnect(func(c *netpoll.Conn, err error) { ended <- err }))
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
	defer c.Close()
	err = <-ended
	fmt.Println("disconnected, idle timeout:", errors.Is(err, netpoll.ErrIdleTimeout))
	// Output:
	// connected
	// disconnected, idle timeout: true
}

// A Config gathers every option in one value, to be kept in a program's
// own configuration and applied with WithConfig; options given after it
// override its fields.
func ExampleWithConfig() {
	cfg := netpoll.DefaultConfig()
	cfg.MaxInput = 1 << 20
	cfg.ReadTimeout = 30 * time.Second
	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error { return nil },
		netpoll.WithConfig(cfg), netpoll.WithMaxOutput(256<<10))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	got := srv.Config()
	fmt.Println(got.MaxInput, got.MaxOutput, got.ReadTimeout)
	// Output: 1048576 262144 30s
}
