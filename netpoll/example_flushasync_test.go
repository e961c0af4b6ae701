package netpoll_test

import (
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/upoll/upoll/netpoll"
)

// Many goroutines writing on one connection: each queues its message
// and leaves the sending to the poller, which writes what they queued
// meanwhile in one writev instead of one system call each.
func ExampleWriter_flushAsync() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	got := make(chan int, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer s.Close()
		n, _ := io.ReadFull(s, make([]byte, 8*100))
		got <- n
	}()

	c, err := netpoll.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				w := c.Writer()
				w.WriteByte('x') // one message: one call, so messages do not interleave
				if err := w.FlushAsync(); err != nil {
					fmt.Println(err)
					return
				}
			}
		})
	}
	wg.Wait()
	fmt.Println(<-got, "bytes arrived")
	// Output: 800 bytes arrived
}
