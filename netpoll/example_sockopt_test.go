package netpoll_test

import (
	"fmt"
	"net"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// A connection's socket options are set as on a *net.TCPConn: here a
// dialed connection probes an idle peer sooner than Go's default and
// lets the kernel coalesce small writes.
func ExampleConn_SetKeepAliveConfig() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		if s, err := l.Accept(); err == nil {
			s.Close()
		}
	}()

	c, err := netpoll.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()

	// The first probe after 30 s of silence, then one every 5 s; the
	// peer is dropped after 3 unanswered ones.
	err = c.SetKeepAliveConfig(net.KeepAliveConfig{
		Enable:   true,
		Idle:     30 * time.Second,
		Interval: 5 * time.Second,
		Count:    3,
	})
	fmt.Println("keep-alive:", err)
	fmt.Println("Nagle on:", c.SetNoDelay(false))

	// Code written for Go's net finds the same methods.
	_, ok := net.Conn(c).(interface{ SetNoDelay(bool) error })
	fmt.Println("TCPConn-like:", ok)

	c.Close()
	fmt.Println("after Close:", c.SetNoDelay(true) != nil)
	// Output:
	// keep-alive: <nil>
	// Nagle on: <nil>
	// TCPConn-like: true
	// after Close: true
}
