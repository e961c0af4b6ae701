package netpoll_test

import (
	"fmt"
	"io"
	"net"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// A server that holds at most one connection: a second client connects
// (the kernel completes its handshake) but is not served until the first
// one closes; what it sent meanwhile waits in the kernel.
func ExampleWithMaxConns() {
	echo := func(c *netpoll.Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		w.WriteBinary(b)
		r.Release()
		return w.Flush()
	}
	srv, err := netpoll.NewServer(echo, netpoll.WithMaxConns(1))
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ln, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	roundTrip := func(c net.Conn, msg string, d time.Duration) string {
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(d))
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil {
			return "no answer"
		}
		return string(buf)
	}
	first, _ := net.Dial("tcp", ln.Addr().String())
	fmt.Println("first:", roundTrip(first, "one", 5*time.Second))
	second, _ := net.Dial("tcp", ln.Addr().String())
	defer second.Close()
	fmt.Println("second, beside the first:", roundTrip(second, "two", 200*time.Millisecond))
	first.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 3)
	io.ReadFull(second, buf)
	fmt.Println("second, once the first closed:", string(buf))
	// Output:
	// first: one
	// second, beside the first: no answer
	// second, once the first closed: two
}

// PauseAccept stops accepting, for instance while the program sheds
// load; connections that come meanwhile wait in the kernel until
// ResumeAccept.
func ExampleServer_PauseAccept() {
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
	ln, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	srv.PauseAccept()
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	c.Write([]byte("hi"))
	buf := make([]byte, 2)
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	_, err = io.ReadFull(c, buf)
	fmt.Println("paused, answered:", err == nil)
	srv.ResumeAccept()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadFull(c, buf)
	fmt.Println("resumed:", string(buf), err)
	// Output:
	// paused, answered: false
	// resumed: hi <nil>
}

// HoldAccept is a pause of the code that owns a Server (an adapter
// throttling its own queue), apart from the application's PauseAccept:
// the listeners accept only once both are ended, in either order.
func ExampleServer_HoldAccept() {
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
	ln, err := srv.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(ln)

	srv.HoldAccept()  // the owner's pause
	srv.PauseAccept() // the application's
	c, _ := net.Dial("tcp", ln.Addr().String())
	defer c.Close()
	c.Write([]byte("hi"))
	buf := make([]byte, 2)
	answered := func(wait time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(wait))
		_, err := io.ReadFull(c, buf)
		return err == nil
	}
	srv.ReleaseAccept()
	fmt.Println("owner released, answered:", answered(200*time.Millisecond))
	srv.ResumeAccept()
	fmt.Println("both ended, answered:", answered(5*time.Second), string(buf))
	// Output:
	// owner released, answered: false
	// both ended, answered: true hi
}
