package netpoll_test

import (
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/upoll/upoll/netpoll"
)

// ExampleErrBackendUnavailable asks for the io_uring backend and, where
// the kernel or a sandbox does not allow io_uring, serves on the default
// backend instead: the request is explicit, so nothing falls back
// silently.
func ExampleErrBackendUnavailable() {
	echo := func(c *netpoll.Conn) error {
		b, err := c.Reader().Next(c.Reader().Len())
		if err != nil {
			return err
		}
		c.Writer().WriteBinary(b)
		c.Reader().Release()
		return c.Writer().Flush()
	}
	backend := netpoll.WithBackend(netpoll.BackendUring)
	srv, err := netpoll.NewServer(echo, backend)
	if errors.Is(err, netpoll.ErrBackendUnavailable) {
		// err names the cause, e.g. the sysctl kernel.io_uring_disabled.
		backend = netpoll.WithBackend(netpoll.BackendDefault)
		srv, err = netpoll.NewServer(echo, backend)
	}
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ln, err := netpoll.Listen("tcp", "127.0.0.1:0", backend)
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
	// Output: hello
}
