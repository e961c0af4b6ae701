package netpoll_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// An echo server in handler mode: the handler runs whenever input
// arrives and writes it back without copying it out of the buffer.
func ExampleServer() {
	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w.WriteBinary(b)
		r.Release()
		return w.Flush()
	}, netpoll.WithTrigger(netpoll.EdgeTriggered))
	if err != nil {
		panic(err)
	}
	defer srv.Shutdown(context.Background())
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
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(c, buf)
	fmt.Println(string(buf))
	// Output: hello
}

// Dialing: the connection is served by a poller and used as a net.Conn.
func ExampleDialer() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		s, err := l.Accept()
		if err == nil {
			io.Copy(s, s)
			s.Close()
		}
	}()

	d := netpoll.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	c.CloseWrite()
	got, _ := io.ReadAll(c)
	fmt.Println(string(got))
	// Output: ping
}

// Reader.Next blocks until the whole frame is there: a length-prefixed
// frame is read with two calls, whatever the network's segmentation. A
// handler may block under every dispatch mode but DispatchInline, whose
// handlers run on the poller and get ErrWouldBlock instead; the example
// names the default, DispatchHandoff, so that a UPOLL override does not
// change it.
func ExampleReader_next() {
	frames := make(chan string, 1)
	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r := c.Reader()
		hdr, err := r.Next(1)
		if err != nil {
			return err
		}
		body, err := r.Next(int(hdr[0]))
		if err != nil {
			return err
		}
		frames <- string(body)
		return r.Release()
	}, netpoll.WithDispatch(netpoll.DispatchHandoff))
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
	c.Write([]byte{11, 'h', 'e', 'l'})
	time.Sleep(10 * time.Millisecond) // the rest arrives later
	c.Write([]byte("lo world"))
	fmt.Println(<-frames)
	// Output: hello world
}
