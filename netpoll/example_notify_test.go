package netpoll_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// An accept-mode connection can wait for its next input without a
// goroutine: NotifyInput calls back on the poller when bytes arrive, and
// they stay buffered for the Read that follows.
func ExampleConn_NotifyInput() {
	conns := make(chan *netpoll.Conn, 1)
	s, err := netpoll.NewServer(nil, netpoll.WithOnConnect(func(c *netpoll.Conn) { conns <- c }))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go s.Serve(ln)

	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	c := <-conns

	ready := make(chan struct{})
	c.NotifyInput(func(*netpoll.Conn) { close(ready) }) // must not block
	cl.Write([]byte("wake up"))
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		fmt.Println("no input")
		return
	}
	buf := make([]byte, 7)
	io.ReadFull(c, buf)
	fmt.Println(string(buf))
	// Output: wake up
}
