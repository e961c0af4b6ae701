package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A peer's end that follows its data is seen: io.ReadAll on an accepted
// connection (accept mode) returns the data and no error once the peer
// has closed. On a Unix-domain socket under BackendUring the end was
// sometimes not seen and ReadAll waited for its deadline: a multishot
// receive armed when the peer's last data and its end were both there
// took the data and never reported the end (sockSeesEnd). Each backend,
// over Unix-domain sockets and over TCP, in up to three ways:
//
//   - "data": the peer sends, the reader reads it, the peer sends again
//     and closes. The receive armed by the first read goes in with the
//     poller's next io_uring_enter, and stalled when the peer's second
//     message and its close came before it: under -race 4 to 13 stalls
//     in 300 connections, none without -race, none beside two spinning
//     goroutines (which let the poller enter first).
//   - "closeread": the same after the peer's CloseRead and two writes
//     that fail with EPIPE (TestReview12UnixWriteAfterPeerCloseRead,
//     where CI's io_uring pass met it); as often.
//   - "rights" (Unix only): while the Server's accepting is paused, the
//     peer sends a message carrying a descriptor, then more, and closes.
//     The first read stops after the descriptor's message, and the
//     receive it arms finds the rest and the end there: every
//     connection stalled, with -race or without.
//   - "bounded" (Unix only, 50 connections): the peer sends 40 messages
//     of 2 KiB, each carrying a descriptor, and closes, to a connection
//     whose input is bounded at 4 KiB and whose reader waits 20 ms
//     before it reads. Its receive ends at the stash bound, and after
//     the peer's end the reads go to the socket (hupRead), each
//     stopping after a message. It did not stall before the fix; it
//     checks that those reads, with no receive armed, take everything
//     to the end.
func TestUringUnixEOFAfterData(t *testing.T) {
	const (
		conns     = 300
		perConn   = 5 * time.Second
		budget    = 60 * time.Second // the whole of one case
		maxStalls = 2                // enough to tell; each costs perConn
	)
	for _, be := range testBackends(false) {
		for _, network := range []string{"unix", "tcp"} {
			for _, mode := range []string{"data", "closeread", "rights", "bounded"} {
				if network == "tcp" && mode != "data" {
					continue // a TCP peer's CloseRead stays its own; no rights over TCP
				}
				n := conns
				if mode == "bounded" {
					n = 50
				}
				t.Run(be.String()+"/"+network+"/"+mode, func(t *testing.T) {
					var (
						s        *Server
						accepted chan *Conn
						dial     func() net.Conn
					)
					if network == "unix" {
						path := filepath.Join(shortTempDir(t), "u")
						opts := []Option{WithBackend(be)}
						if mode == "bounded" {
							opts = append(opts, WithMaxInput(4<<10))
						}
						s, _, accepted = startAcceptUnix(t, path, opts...)
						dial = func() net.Conn {
							c, err := net.Dial("unix", path)
							if err != nil {
								t.Fatal(err)
							}
							return c
						}
					} else {
						var addr string
						s, addr, accepted = startAccept(t, WithBackend(be))
						dial = func() net.Conn { return dialTCP(t, addr) }
					}
					end := time.Now().Add(budget)
					stalls, done := 0, 0
					for i := 0; i < n && stalls < maxStalls && time.Now().Before(end); i++ {
						if msg := eofAfterData(t, s, accepted, dial, mode, perConn); msg != "" {
							stalls++
							t.Errorf("connection %d: %s", i, msg)
						}
						done++
					}
					t.Logf("%d stalls in %d connections", stalls, done)
				})
			}
		}
	}
}

// eofAfterData runs one connection of TestUringUnixEOFAfterData to s,
// whose connections come on accepted, with a peer from dial, and closes
// both ends; it returns what went wrong, or "".
func eofAfterData(t *testing.T, s *Server, accepted chan *Conn, dial func() net.Conn, mode string, d time.Duration) string {
	if mode == "bounded" {
		peer := dial()
		defer peer.Close()
		c := recvConn(t, accepted)
		var want []byte
		for i := range 40 {
			msg := bytes.Repeat([]byte{'a' + byte(i%26)}, 2<<10)
			if _, _, err := peer.(*net.UnixConn).WriteMsgUnix(msg, unix.UnixRights(0), nil); err != nil {
				c.Close()
				t.Fatal(err)
			}
			want = append(want, msg...)
		}
		peer.Close()
		time.Sleep(20 * time.Millisecond)
		return readToEnd(c, string(want), d)
	}
	if mode == "rights" {
		s.PauseAccept()
		peer := dial()
		defer peer.Close()
		if _, _, err := peer.(*net.UnixConn).WriteMsgUnix([]byte("first"), unix.UnixRights(0), nil); err != nil {
			s.ResumeAccept()
			t.Fatal(err)
		}
		peer.Write([]byte("second"))
		peer.Close()
		s.ResumeAccept()
		return readToEnd(recvConn(t, accepted), "firstsecond", d)
	}
	peer := dial()
	defer peer.Close()
	c := recvConn(t, accepted)
	if mode == "closeread" {
		if err := peer.(*net.UnixConn).CloseRead(); err != nil {
			c.Close()
			t.Fatal(err)
		}
		c.Write([]byte("x")) // EPIPE, or taken before the kernel saw the shutdown
		c.Write([]byte("x"))
	}
	peer.Write([]byte("first"))
	c.SetReadDeadline(time.Now().Add(d))
	got := make([]byte, 5)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "first" {
		c.Close()
		return fmt.Sprintf("first read %q, %v", got, err)
	}
	peer.Write([]byte("second"))
	peer.Close()
	return readToEnd(c, "second", d)
}

// readToEnd reads c to its end within d, closes it, and returns what
// went wrong, or "".
func readToEnd(c *Conn, want string, d time.Duration) string {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(d))
	rest, err := io.ReadAll(c)
	if string(rest) != want || err != nil {
		if len(rest) > 32 || len(want) > 32 {
			return fmt.Sprintf("ReadAll after the peer's close: %d bytes (same: %v), %v; want %d, <nil> (%s)",
				len(rest), bytes.HasPrefix([]byte(want), rest), err, len(want), uringRegState(c))
		}
		return fmt.Sprintf("ReadAll after the peer's close: %q, %v; want %q, <nil> (%s)", rest, err, want, uringRegState(c))
	}
	return ""
}

// uringRegState describes c's io_uring registration, for a failure's
// message; "epoll" on epoll.
func uringRegState(c *Conn) string {
	u := c.p.ep.ur
	if u == nil {
		return "epoll"
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	reg := u.reg(int(c.fd))
	if reg == nil {
		return "no registration"
	}
	return fmt.Sprintf("receive mode %v, receive %#x, poll %#x, cancel %v, eof %v, errno %d, hup %d, %d pieces stashed",
		reg.recvMode, reg.recvUD, reg.pollUD, reg.cancel, reg.eof, reg.errno, reg.hup, len(reg.stash)-int(reg.head))
}
