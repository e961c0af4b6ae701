package netpoll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asGoTCP runs run on a pair of Go's TCP connections, then on a
// connection accepted on each backend with a Go peer, and fails each
// backend's subtest whose results differ from Go's.
func asGoTCP(t *testing.T, run func(c tcpLike, peer *net.TCPConn) []string) {
	t.Helper()
	g, gp := goTCPPair(t)
	want := run(g, gp)
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			c, peer := acceptPair(t, WithBackend(b))
			if got := run(c, peer); !slices.Equal(got, want) {
				t.Errorf("got  %q\nGo's %q", got, want)
			}
		})
	}
}

// tcpLike is what these tests call on Go's *net.TCPConn and on a *Conn.
type tcpLike interface {
	net.Conn
	CloseRead() error
	CloseWrite() error
	SetLinger(int) error
	ReadFrom(io.Reader) (int64, error)
	WriteTo(io.Writer) (int64, error)
}

// errClass names err as these tests compare it with Go's: nil, EOF, or
// the *net.OpError's Op, the *os.SyscallError's call and the errno.
func errClass(n int64, err error) string {
	switch {
	case err == nil:
		return fmt.Sprintf("%d nil", n)
	case err == io.EOF:
		return fmt.Sprintf("%d EOF", n)
	}
	s := fmt.Sprintf("%d", n)
	var oe *net.OpError
	if errors.As(err, &oe) {
		s += " op=" + oe.Op
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		s += " " + se.Syscall
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s += ": " + errno.Error()
	} else if se == nil {
		s += ": " + err.Error()
	}
	return s
}

// resetCases are sequences of calls on a connection whose peer resets
// it, as Go's *net.TCPConn answers them: the kernel reports a socket's
// error to one call; reads after it, or after a FIN that came before
// the reset, see the end of the stream.
var resetCases = []struct {
	name string
	run  func(c tcpLike, peer *net.TCPConn) []string
}{
	{"readsAfterReset", func(c tcpLike, peer *net.TCPConn) []string {
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(50 * time.Millisecond) // the reset arrives
		return readN(c, 3)
	}},
	{"readsAfterDataThenReset", func(c tcpLike, peer *net.TCPConn) []string {
		peer.Write([]byte("abc"))
		time.Sleep(20 * time.Millisecond)
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(50 * time.Millisecond)
		return readN(c, 4)
	}},
	{"readsAfterFINThenReset", func(c tcpLike, peer *net.TCPConn) []string {
		peer.Write([]byte("abc"))
		peer.CloseWrite()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := []string{errClass(readAllOf(c))}
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(50 * time.Millisecond)
		got = append(got, readN(c, 2)...)
		n, err := c.Write([]byte("x"))
		return append(got, errClass(int64(n), err))
	}},
	{"writeThenReadsAfterReset", func(c tcpLike, peer *net.TCPConn) []string {
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(50 * time.Millisecond)
		n, err := c.Write([]byte("x"))
		return append([]string{errClass(int64(n), err)}, readN(c, 2)...)
	}},
	{"writeToTwiceAfterReset", func(c tcpLike, peer *net.TCPConn) []string {
		peer.Write([]byte("abc"))
		time.Sleep(20 * time.Millisecond)
		peer.SetLinger(0)
		peer.Close()
		time.Sleep(50 * time.Millisecond)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got []string
		for range 2 {
			var sb strings.Builder
			n, err := c.WriteTo(&sb)
			got = append(got, errClass(n, err)+" "+sb.String())
		}
		return got
	}},
}

func readN(c net.Conn, k int) []string {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	b := make([]byte, 16)
	for range k {
		n, err := c.Read(b)
		got = append(got, errClass(int64(n), err))
	}
	return got
}

func readAllOf(c net.Conn) (int64, error) {
	b, err := io.ReadAll(c)
	return int64(len(b)), err
}

// TestReadAfterResetAsGo: after the peer's reset a Read reports it once,
// then io.EOF; after a FIN that came before the reset, Reads say io.EOF
// (the kernel's read sees the end first), not a "read: broken pipe".
func TestReadAfterResetAsGo(t *testing.T) {
	for _, rc := range resetCases {
		t.Run(rc.name, func(t *testing.T) { asGoTCP(t, rc.run) })
	}
}

// TestReadFromFileAfterCloseWriteAsGo: ReadFrom from a regular file
// after CloseWrite fails as Go's sendfile does (EPIPE, nothing sent) and
// leaves the file's offset where it was; a copy would take a chunk of
// the file and lose it.
func TestReadFromFileAfterCloseWriteAsGo(t *testing.T) {
	name := t.TempDir() + "/f"
	if err := os.WriteFile(name, make([]byte, 256<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(c tcpLike) string {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		n, err := c.ReadFrom(f)
		off, _ := f.Seek(0, io.SeekCurrent)
		var oe *net.OpError
		errors.As(err, &oe)
		return fmt.Sprintf("n=%d readfrom=%v EPIPE=%v offset=%d", n, oe != nil && oe.Op == "readfrom", errors.Is(err, syscall.EPIPE), off)
	}
	g, _ := goTCPPair(t)
	want := run(g)
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			c, _ := acceptPair(t, WithBackend(b))
			if got := run(c); got != want {
				t.Errorf("got  %s\nGo's %s", got, want)
			}
		})
	}
}

// TestCloseWithUnreadInputAsGo: a Close that leaves received bytes
// unread resets the connection, as close(2) does with bytes in the
// socket's receive queue: the peer's Read fails with ECONNRESET. Bytes
// the poller read ahead into the Conn's buffer are as unread as those in
// the kernel. A Close after every byte was read ends the stream with a
// FIN (io.EOF at the peer), as Go's.
func TestCloseWithUnreadInputAsGo(t *testing.T) {
	run := func(c tcpLike, peer *net.TCPConn, readFirst bool) string {
		peer.Write([]byte("unread"))
		time.Sleep(50 * time.Millisecond) // it arrives (and is read ahead)
		if readFirst {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			io.ReadFull(c, make([]byte, 6))
		}
		c.Close()
		peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := peer.Read(make([]byte, 16))
		return errClass(int64(n), err)
	}
	for _, readFirst := range []bool{false, true} {
		t.Run(fmt.Sprint("readFirst=", readFirst), func(t *testing.T) {
			g, gp := goTCPPair(t)
			want := run(g, gp, readFirst)
			for _, b := range testBackends(true) {
				t.Run(b.String(), func(t *testing.T) {
					c, peer := acceptPair(t, WithBackend(b))
					if got := run(c, peer, readFirst); got != want {
						t.Errorf("peer's Read: %s; Go's %s", got, want)
					}
				})
			}
		})
	}
}
