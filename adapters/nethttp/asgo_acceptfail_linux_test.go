package nethttp

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listeningFD returns this process's descriptor of the TCP socket
// listening on 127.0.0.1:port (found by its inode in /proc/net/tcp).
func listeningFD(t *testing.T, port int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skip(err)
	}
	inode := ""
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[1] == fmt.Sprintf("0100007F:%04X", port) && f[3] == "0A" {
			inode = f[9]
		}
	}
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); inode != "" && l == "socket:["+inode+"]" {
			n, _ := strconv.Atoi(e.Name())
			return n
		}
	}
	t.Fatalf("no descriptor listens on port %d", port)
	return -1
}

// When the listening socket fails for good (shut down outside the
// listener: accept then fails with EINVAL), Accept's error is Go's:
// "accept tcp ADDR: accept4: invalid argument", a *net.OpError wrapping
// the *os.SyscallError, for the Accept that was blocked and the next.
// upoll wrapped Serve's *net.OpError in another ("accept tcp ADDR:
// accept tcp ADDR: accept: invalid argument").
func TestAsGoAcceptAfterSocketFails(t *testing.T) {
	revCompare(t, func(t *testing.T, st revStack) []string {
		ln, err := st.listen()
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addr := ln.Addr().String()
		fd := listeningFD(t, ln.Addr().(*net.TCPAddr).Port)
		ch := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if c != nil {
				c.Close()
			}
			ch <- err
		}()
		time.Sleep(50 * time.Millisecond) // Accept blocks
		if err := syscall.Shutdown(fd, syscall.SHUT_RD); err != nil {
			t.Fatal(err)
		}
		desc := func(err error) string {
			oe, ok := err.(*net.OpError)
			if !ok {
				return fmt.Sprintf("%T %v", err, err)
			}
			return fmt.Sprintf("%q inner=%T", strings.ReplaceAll(oe.Error(), addr, "ADDR"), oe.Err)
		}
		var out []string
		select {
		case err := <-ch:
			out = append(out, "blocked: "+desc(err))
		case <-time.After(5 * time.Second):
			ln.Close()
			<-ch
			out = append(out, "blocked: still blocked after 5s")
		}
		_, err = ln.Accept()
		return append(out, "next: "+desc(err))
	})
}
