package netpoll

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

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
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptEMFILE$", "-test.count=1")
	cmd.Env = append(os.Environ(), emfileEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("child: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Error("child did not exit")
		}
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(prefix string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("child exited before %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return strings.TrimSpace(strings.TrimPrefix(l, prefix))
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("child did not say %q", prefix)
			}
		}
	}
	addr := expect("addr ")
	expect("saturated")

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
	cpu0 := procCPUTicks(t, cmd.Process.Pid)
	const window = time.Second
	time.Sleep(window)
	ticks := procCPUTicks(t, cmd.Process.Pid) - cpu0
	// A busy accept loop would use ~100 ticks (USER_HZ=100) per second.
	t.Logf("child CPU while saturated: %d ticks in %v", ticks, window)
	if ticks > 20 {
		t.Fatalf("child used %d CPU ticks in %v while saturated: busy loop?", ticks, window)
	}

	fmt.Fprintln(stdin, "free")
	expect("freed")
	for i, c := range clients {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		msg := fmt.Sprintf("hello %d", i)
		c.Write([]byte(msg))
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("client %d after freeing fds: %q, %v", i, buf, err)
		}
	}
	fmt.Fprintln(stdin, "stats")
	backoffs, _ := strconv.Atoi(expect("backoffs "))
	if backoffs == 0 {
		t.Fatal("no accept backoff recorded")
	}
	t.Logf("accept backoffs: %d", backoffs)
}

func procCPUTicks(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// fields[0] is field 3 (state); utime and stime are fields 14, 15.
	ut, _ := strconv.Atoi(fields[11])
	st, _ := strconv.Atoi(fields[12])
	return ut + st
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
