package netpoll_test

import (
	"fmt"
	"io"
	"net"

	"github.com/upoll/upoll/netpoll"
)

// File hands the socket to code that wants a descriptor of its own (a
// child process, a system call upoll does not make), as
// (*net.TCPConn).File does: a duplicate that the caller closes, and
// that keeps the socket open after the Conn's Close.
func ExampleConn_File() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	got := make(chan string, 1)
	go func() {
		s, err := l.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer s.Close()
		b, err := io.ReadAll(s) // until both descriptors are closed
		got <- fmt.Sprintf("%q, %v", b, err)
	}()

	c, err := netpoll.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	f, err := c.File()
	if err != nil {
		panic(err)
	}
	mptcp, err := c.MultipathTCP()
	fmt.Println("MPTCP:", mptcp, err)

	c.Write([]byte("through the Conn, "))
	c.Close() // the File still holds the socket
	f.Write([]byte("then through the File"))
	f.Close()
	fmt.Println("the peer read:", <-got)
	// Output:
	// MPTCP: false <nil>
	// the peer read: "through the Conn, then through the File", <nil>
}
