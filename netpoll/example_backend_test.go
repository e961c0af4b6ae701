package netpoll_test

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/upoll/upoll/netpoll"
)

// ExampleWithBackend serves an echo on the portable backend: the same
// handler and API on Go's net package. The poller switches do not apply
// there, and the configuration says so.
func ExampleWithBackend() {
	echo := func(c *netpoll.Conn) error {
		b, err := c.Reader().Next(c.Reader().Len())
		if err != nil {
			return err
		}
		c.Writer().WriteBinary(b)
		c.Reader().Release()
		return c.Writer().Flush()
	}
	srv, err := netpoll.NewServer(echo, netpoll.WithBackend(netpoll.BackendStd))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ln, err := srv.Listen("tcp", "127.0.0.1:0") // a listener of the server's backend
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	cl.Write([]byte("hello"))
	buf := make([]byte, 5)
	io.ReadFull(cl, buf)
	fmt.Println(string(buf))
	cfg := srv.Config().String()
	fmt.Println(cfg[:strings.Index(cfg, ",maxinput")])
	// Output:
	// hello
	// backend=std,pollers=n/a,trigger=n/a,wait=n/a,spin=n/a,dispatch=n/a,balance=n/a,reuseport=n/a
}
