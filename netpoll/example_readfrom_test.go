package netpoll_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/upoll/upoll/netpoll"
)

// A handler sends a file: io.Copy calls the Conn's ReadFrom, which on
// Linux passes the file to the kernel with sendfile (Stats.Sendfiles
// counts the calls) and elsewhere copies it.
func ExampleConn_ReadFrom() {
	dir, err := os.MkdirTemp("", "readfrom")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "page.html")
	if err := os.WriteFile(name, []byte("<h1>hello</h1>\n"), 0o600); err != nil {
		panic(err)
	}

	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r := c.Reader()
		r.Skip(r.Len()) // any request gets the page
		r.Release()
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(c, f); err != nil {
			return err
		}
		return c.CloseWrite() // the page ends with the stream
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

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("GET\n"))
	page, err := io.ReadAll(c)
	fmt.Printf("%q %v\n", page, err)
	// Output: "<h1>hello</h1>\n" <nil>
}

// io.Copy from a Conn is its WriteTo: the input goes to the writer from
// the connection's own buffer, without a copy, until the peer ends its
// stream.
func ExampleConn_WriteTo() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		s, err := l.Accept()
		if err != nil {
			return
		}
		s.Write([]byte("hello, "))
		s.Write([]byte("world"))
		s.Close()
	}()

	c, err := netpoll.Dial("tcp", l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	var sb strings.Builder
	n, err := io.Copy(&sb, c)
	fmt.Println(n, err, sb.String())
	// Output: 12 <nil> hello, world
}

// A proxy's handler copies what an upstream, dialed with Go's net, sends:
// io.Copy from a *net.TCPConn ends in the Conn's ReadFrom, which on Linux
// moves the bytes with splice (Stats.Splices counts the calls) and
// elsewhere copies them.
func ExampleConn_ReadFrom_proxy() {
	upstream, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer upstream.Close()
	go func() {
		u, err := upstream.Accept()
		if err != nil {
			return
		}
		u.Write([]byte("hello from upstream"))
		u.Close()
	}()

	srv, err := netpoll.NewServer(func(c *netpoll.Conn) error {
		r := c.Reader()
		r.Skip(r.Len()) // any request is proxied
		r.Release()
		u, err := net.Dial("tcp", upstream.Addr().String())
		if err != nil {
			return err
		}
		defer u.Close()
		if _, err := io.Copy(c, u); err != nil {
			return err
		}
		return c.CloseWrite() // the upstream's end is the reply's
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

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.Write([]byte("GET\n"))
	reply, err := io.ReadAll(c)
	fmt.Printf("%q %v\n", reply, err)
	// Output: "hello from upstream" <nil>
}
