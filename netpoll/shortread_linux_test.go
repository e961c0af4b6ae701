package netpoll

import (
	"bytes"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests below pin down when a short read may end fill without
// reading again to EAGAIN (Conn.shortDrains). Each sends its bytes
// back to back, so that they usually arrive before the poller reads
// and the read stops short of what the socket holds; a wrong shortcut
// then waits for an edge that never comes, and the read below times
// out.

// TestShortReadThenEOF: bytes followed at once by FIN are all read and
// then EOF is seen, in each trigger mode and at sizes below, around and
// above the edge-triggered budget (requeued connections must read to
// EAGAIN: their hang-up came with an earlier event).
func TestShortReadThenEOF(t *testing.T) {
	sizes := []int{1, 100, minReadSize + 1, 3*maxReadSize + 7, edgeBudget + 5000}
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig))
			for _, size := range sizes {
				for i := range 8 {
					want := bytes.Repeat([]byte{byte(i + 1)}, size)
					cl := dialTCP(t, addr)
					go func() {
						cl.Write(want)
						cl.CloseWrite()
					}()
					c := recvConn(t, conns)
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					got, err := io.ReadAll(c)
					c.Close()
					cl.Close()
					if err != nil || !bytes.Equal(got, want) {
						t.Fatalf("size %d round %d: read %d of %d bytes, err %v", size, i, len(got), size, err)
					}
				}
			}
		})
	}
}

// TestShortReadAfterPause: input that waited at the input bound while
// the FIN arrived is read to EOF once the reader drains it (the resumed
// read must not trust a short read: the hang-up came while paused).
func TestShortReadAfterPause(t *testing.T) {
	const bound, size = 16 << 10, 100 << 10
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig), WithMaxInput(bound))
			for i := range 4 {
				want := bytes.Repeat([]byte{byte(i + 1)}, size)
				cl := dialTCP(t, addr)
				wrote := make(chan error, 1)
				go func() {
					_, err := cl.Write(want)
					if err == nil {
						err = cl.CloseWrite()
					}
					wrote <- err
				}()
				c := recvConn(t, conns)
				// Let the poller fill to the bound and pause while the
				// rest and the FIN arrive.
				select {
				case err := <-wrote:
					if err != nil {
						t.Fatal(err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("client write did not finish")
				}
				time.Sleep(20 * time.Millisecond)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				got, err := io.ReadAll(c)
				c.Close()
				cl.Close()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("round %d: read %d of %d bytes, err %v", i, len(got), size, err)
				}
			}
		})
	}
}

// TestShortReadUrgentData: a TCP read stops short before the urgent
// mark with bytes behind it; the event that brings urgent data must be
// read to EAGAIN. The urgent byte itself is out of band (SO_OOBINLINE
// is off) and not part of the stream.
func TestShortReadUrgentData(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig))
			for i := range 8 {
				cl := dialTCP(t, addr)
				c := recvConn(t, conns)
				writeUrgent(t, cl)
				expectRead(t, c, i, "abcd")
				c.Close()
				cl.Close()
			}
		})
	}
}

// writeUrgent writes "ab", the out-of-band byte "X" and "cd" on cl,
// back to back: a reader that skips the out-of-band byte reads "abcd".
func writeUrgent(t *testing.T, cl *net.TCPConn) {
	t.Helper()
	raw, err := cl.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Write(func(fd uintptr) bool {
		for _, s := range []struct {
			b     string
			flags int
		}{{"ab", 0}, {"X", unix.MSG_OOB}, {"cd", 0}} {
			if serr = unix.Sendto(int(fd), []byte(s.b), s.flags, nil); serr != nil {
				break
			}
		}
		return true
	})
	if serr != nil {
		t.Fatal("send: ", serr)
	}
}

// TestShortReadUnixRights: an AF_UNIX read stops short after a message
// that carried file descriptors, with bytes behind it; unix sockets
// always read to EAGAIN.
func TestShortReadUnixRights(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s")
			ln, err := Listen("unix", path, WithTrigger(trig))
			if err != nil {
				t.Fatal(err)
			}
			conns := make(chan *Conn, 16)
			s, err := NewServer(nil, WithTrigger(trig), WithOnConnect(func(c *Conn) { conns <- c }))
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(ln) }()
			defer func() {
				s.Close()
				select {
				case <-served:
				case <-time.After(5 * time.Second):
					t.Error("Serve did not return after Close")
				}
			}()
			for i := range 8 {
				cl, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
				if err != nil {
					t.Fatal(err)
				}
				c := recvConn(t, conns)
				if _, _, err := cl.WriteMsgUnix([]byte("ab"), unix.UnixRights(int(0)), nil); err != nil {
					t.Fatal(err)
				}
				if _, err := cl.Write([]byte("cd")); err != nil {
					t.Fatal(err)
				}
				expectRead(t, c, i, "abcd")
				c.Close()
				cl.Close()
			}
		})
	}
}

// expectRead reads len(want) bytes from c within 5 s and fails the test
// unless they are want.
func expectRead(t *testing.T, c *Conn, round int, want string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("round %d: read %q, err %v; want %q", round, got, err, want)
	}
}
