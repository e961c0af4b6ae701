package netpoll

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"golang.org/x/sys/unix"
)

const emfileEnv = "UPOLL_EMFILE_CHILD"

// TestAcceptEMFILE runs a server in a child process (this test binary
// re-executed) whose descriptors are exhausted: accept must back off
// (CPU stays low while connections wait in the backlog) and serve them
// once descriptors are freed.
func TestAcceptEMFILE(t *testing.T) {
	if os.Getenv(emfileEnv) == "1" {
		emfileChild()
		return
	}
	child := testutil.StartChild(t, "^TestAcceptEMFILE$", emfileEnv+"=1")
	addr := child.Expect(t, "addr ", 60*time.Second)
	child.Expect(t, "saturated", 20*time.Second)

	// These complete in the kernel backlog but cannot be accepted.
	var clients []net.Conn
	for range 5 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	time.Sleep(100 * time.Millisecond)
	cpu0 := child.CPU(t)
	const window = time.Second
	time.Sleep(window)
	cpu := child.CPU(t) - cpu0
	// A busy accept loop would use about a whole second per second.
	t.Logf("child CPU while saturated: %v in %v", cpu, window)
	if cpu > 200*time.Millisecond {
		t.Fatalf("child used %v of CPU in %v while saturated: busy loop?", cpu, window)
	}

	child.Send(t, "free")
	child.Expect(t, "freed", 20*time.Second)
	for i, c := range clients {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := fmt.Sprintf("hello %d", i)
		c.Write([]byte(msg))
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("client %d after freeing fds: %q, %v", i, buf, err)
		}
	}
	child.Send(t, "stats")
	backoffs, _ := strconv.Atoi(child.Expect(t, "backoffs ", 20*time.Second))
	if backoffs == 0 {
		t.Fatal("no accept backoff recorded")
	}
	t.Logf("accept backoffs: %d", backoffs)
}

func emfileChild() {
	s, err := NewServer(echoHandler, WithPollers(1))
	if err != nil {
		panic(err)
	}
	ln, err := Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go s.Serve(ln)
	unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 256, Max: 256})
	var held []int
	for range 1024 {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}
	fmt.Println("addr", ln.Addr())
	fmt.Println("saturated")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "free":
			for _, fd := range held {
				unix.Close(fd)
			}
			held = nil
			fmt.Println("freed")
		case "stats":
			fmt.Println("backoffs", s.Stats().AcceptBackoffs)
		}
	}
	s.Close()
	os.Exit(0) // skip the child's test summary; a race report exits non-zero
}

// withFDsExhausted returns call's error, run with the process's
// descriptors used up (testutil.WithFDsExhausted). It is for child
// processes: a failure to set the limit up panics, and the parent sees
// the child fail.
func withFDsExhausted(call func() error) error {
	var err error
	if serr := testutil.WithFDsExhausted(func() { err = call() }); serr != nil {
		panic(serr)
	}
	return err
}
