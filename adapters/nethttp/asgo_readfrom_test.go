package nethttp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// failingReader gives n bytes, then err. It has no WriteTo, so that
// io.Copy (which *net.TCPConn's ReadFrom uses for it) reads it in
// chunks as the adapter's ReadFrom does.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// readFromShape describes ReadFrom's result as a caller can see it:
// the count, and of the error the *net.OpError layers (op and network,
// outermost first, the addresses named by whose they are), the error
// they wrap and what errors.Is and net.Error say of it.
func readFromShape(c net.Conn, n int64, err error) string {
	s := fmt.Sprintf("n=%d", n)
	if err == nil {
		return s + " nil"
	}
	role := func(a net.Addr) string {
		switch {
		case a == nil:
			return "nil"
		case a.String() == c.LocalAddr().String():
			return "local"
		case a.String() == c.RemoteAddr().String():
			return "remote"
		}
		return a.String()
	}
	inner := err
	for {
		oe, ok := inner.(*net.OpError)
		if !ok {
			break
		}
		s += fmt.Sprintf(" [%s %s %s->%s]", oe.Op, oe.Net, role(oe.Source), role(oe.Addr))
		inner = oe.Err
	}
	var ne net.Error
	timeout := errors.As(err, &ne) && ne.Timeout()
	return s + fmt.Sprintf(" %T(%v) timeout=%v deadline=%v closed=%v", inner, inner, timeout,
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, net.ErrClosed))
}

// errSource is the failingReader's error.
var errSource = errors.New("source failed")

// readFromScenarios are failing ReadFroms on c, each returning the
// shape of what it got.
var readFromScenarios = []asGoScenario{
	{"source fails", func(c, _ net.Conn) string {
		n, err := c.(io.ReaderFrom).ReadFrom(&failingReader{n: 100, err: errSource})
		return readFromShape(c, n, err)
	}},
	{"source fails at once", func(c, _ net.Conn) string {
		n, err := c.(io.ReaderFrom).ReadFrom(&failingReader{err: errSource})
		return readFromShape(c, n, err)
	}},
	{"write deadline passed", func(c, _ net.Conn) string {
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		defer c.SetWriteDeadline(time.Time{})
		n, err := c.(io.ReaderFrom).ReadFrom(&failingReader{n: 100, err: io.EOF})
		return readFromShape(c, n, err)
	}},
	{"closed", func(c, _ net.Conn) string {
		c.Close()
		n, err := c.(io.ReaderFrom).ReadFrom(struct{ io.Reader }{strings.NewReader("x")})
		return readFromShape(c, n, err)
	}},
	// From a file (sendfile where the backend has it): what was sent,
	// the error, and where the file's offset stands after it.
	{"file", func(c, _ net.Conn) string {
		f := shapeFile(64 << 10)
		defer f.Close()
		f.Seek(100, io.SeekStart)
		n, err := c.(io.ReaderFrom).ReadFrom(f)
		return readFromShape(c, n, err) + fileOffset(f)
	}},
	{"limited file", func(c, _ net.Conn) string {
		f := shapeFile(64 << 10)
		defer f.Close()
		lr := &io.LimitedReader{R: f, N: 1000}
		n, err := c.(io.ReaderFrom).ReadFrom(lr)
		return readFromShape(c, n, err) + fmt.Sprintf(" N=%d", lr.N) + fileOffset(f)
	}},
	{"file, write deadline passed", func(c, _ net.Conn) string {
		f := shapeFile(1000)
		defer f.Close()
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		defer c.SetWriteDeadline(time.Time{})
		n, err := c.(io.ReaderFrom).ReadFrom(f)
		return readFromShape(c, n, err)
	}},
	{"file, closed", func(c, _ net.Conn) string {
		f := shapeFile(1000)
		defer f.Close()
		c.Close()
		n, err := c.(io.ReaderFrom).ReadFrom(f)
		return readFromShape(c, n, err)
	}},
	// From one of Go's sockets (splice where the backend has it): what
	// was sent, the error, and what the source still holds after it.
	{"socket", func(c, _ net.Conn) string {
		src := socketSource(64<<10, true)
		defer src.Close()
		n, err := c.(io.ReaderFrom).ReadFrom(src)
		return readFromShape(c, n, err)
	}},
	{"socket through io.Copy", func(c, _ net.Conn) string {
		// io.Copy calls the source's WriteTo, which passes it to
		// c.ReadFrom wrapped in a type of Go's net.
		src := socketSource(64<<10, true)
		defer src.Close()
		n, err := io.Copy(c, src)
		return readFromShape(c, n, err)
	}},
	{"limited socket", func(c, _ net.Conn) string {
		src := socketSource(5000, false)
		defer src.Close()
		lr := &io.LimitedReader{R: src, N: 1000}
		n, err := c.(io.ReaderFrom).ReadFrom(lr)
		src.SetReadDeadline(time.Now().Add(time.Second))
		rest, rerr := io.ReadFull(src, make([]byte, 4000))
		return readFromShape(c, n, err) + fmt.Sprintf(" N=%d rest=%d,%v", lr.N, rest, rerr)
	}},
	{"socket, read deadline passed", func(c, _ net.Conn) string {
		src := socketSource(1000, false)
		defer src.Close()
		time.Sleep(20 * time.Millisecond) // the 1000 bytes are there
		src.SetReadDeadline(time.Now().Add(-time.Second))
		n, err := c.(io.ReaderFrom).ReadFrom(src)
		return readFromShape(c, n, err)
	}},
	{"socket, read deadline in flight", func(c, _ net.Conn) string {
		src := socketSource(1000, false)
		defer src.Close()
		src.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		n, err := c.(io.ReaderFrom).ReadFrom(src)
		return readFromShape(c, n, err)
	}},
	{"socket closed", func(c, _ net.Conn) string {
		src := socketSource(1000, false)
		src.Close()
		n, err := c.(io.ReaderFrom).ReadFrom(src)
		return readFromShape(c, n, err)
	}},
	{"socket, write deadline passed", func(c, _ net.Conn) string {
		src := socketSource(1000, true)
		defer src.Close()
		c.SetWriteDeadline(time.Now().Add(-time.Second))
		defer c.SetWriteDeadline(time.Time{})
		n, err := c.(io.ReaderFrom).ReadFrom(src)
		return readFromShape(c, n, err)
	}},
	{"socket, closed", func(c, _ net.Conn) string {
		src := socketSource(1000, true)
		defer src.Close()
		c.Close()
		n, err := c.(io.ReaderFrom).ReadFrom(src)
		return readFromShape(c, n, err)
	}},
}

// socketSource is the reading end of a TCP connection of Go's net on
// 127.0.0.1, its peer having written size bytes (then closed its side
// with eof).
func socketSource(size int, eof bool) *net.TCPConn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	feeder, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	src, err := ln.Accept()
	if err != nil {
		panic(err)
	}
	go func() {
		feeder.Write(make([]byte, size))
		if eof {
			feeder.Close()
			return
		}
		// Held open until the source closes (its reads then fail).
		feeder.Read(make([]byte, 1))
		feeder.Close()
	}()
	return src.(*net.TCPConn)
}

// shapeFile is a temporary file of size bytes, open for reading at its
// start; it is removed at once (the open file stays readable).
func shapeFile(size int) *os.File {
	f, err := os.CreateTemp("", "readfrom")
	if err != nil {
		panic(err)
	}
	os.Remove(f.Name())
	if _, err := f.Write(make([]byte, size)); err != nil {
		panic(err)
	}
	f.Seek(0, io.SeekStart)
	return f
}

// fileOffset names f's offset for a shape.
func fileOffset(f *os.File) string {
	off, err := f.Seek(0, io.SeekCurrent)
	return fmt.Sprintf(" offset=%d,%v", off, err)
}

// TestAsGoReadFromErrors: the errors of the adapter's ReadFrom, of a
// conn accepted on "tcp4" and on "tcp", have the shape of those of
// *net.TCPConn's ReadFrom: a "readfrom" *net.OpError, naming the
// listener's network, around the failed write's error or the source's.
func TestAsGoReadFromErrors(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp"} {
		compareAsGo(t, network, readFromScenarios)
	}
}

// asGoScenario is a call on c, an accepted conn whose peer is peer,
// returning the shape of what it got.
type asGoScenario struct {
	name string
	run  func(c, peer net.Conn) string
}

// compareAsGo runs each scenario on a conn accepted by Go's listener on
// network, then on one accepted by Listen on each backend (those the
// kernel has), and reports each shape that differs from Go's.
func compareAsGo(t *testing.T, network string, scenarios []asGoScenario) {
	t.Helper()
	listens := []struct {
		name   string
		listen func() (net.Listener, error)
	}{
		{"go", func() (net.Listener, error) { return net.Listen(network, "127.0.0.1:0") }},
	}
	for _, b := range []netpoll.Backend{netpoll.BackendEpoll, netpoll.BackendStd, netpoll.BackendUring} {
		listens = append(listens, struct {
			name   string
			listen func() (net.Listener, error)
		}{b.String(), func() (net.Listener, error) {
			return Listen(network, "127.0.0.1:0", netpoll.WithBackend(b))
		}})
	}
	for _, sc := range scenarios {
		var want string
		for i, l := range listens {
			ln, err := l.listen()
			if err != nil {
				if i == 0 {
					t.Fatal(err)
				}
				t.Logf("%s: listen: %v", l.name, err)
				continue
			}
			c, peer := revAccept(t, ln)
			got := sc.run(c, peer)
			ln.Close()
			if i == 0 {
				want = got
				continue
			}
			if got != want {
				t.Errorf("%s %s %s:\n  go:    %s\n  upoll: %s", network, l.name, sc.name, want, got)
			}
		}
	}
}
