package netpoll_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// A client's own poller group: a Server that never listens serves the
// connections dialed through it with its handler, so no goroutine waits
// in a read per connection, and its Shutdown closes them.
func ExampleDialer_server() {
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

	replies := make(chan string, 1)
	group, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r := c.Reader()
		if r.Len() < 4 {
			return nil // wait for the rest
		}
		b, err := r.ReadString(4)
		if err != nil {
			return err
		}
		replies <- c.Context().(string) + ": " + b
		return nil
	})
	if err != nil {
		panic(err)
	}
	defer group.Shutdown(context.Background())

	d := netpoll.Dialer{Server: group, Timeout: 5 * time.Second, Context: "conn 1"}
	c, err := d.DialContext(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	c.Write([]byte("pong"))
	fmt.Println(<-replies)
	c.Close()
	// Output: conn 1: pong
}
