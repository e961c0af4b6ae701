package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ChildExitWait bounds how long a child has to exit once its stdin is
// closed before it is killed.
const ChildExitWait = 15 * time.Second

// Child is the test binary re-executed as a helper process. It talks
// over its stdin and stdout, one line per message, and is expected to
// exit when its stdin closes.
type Child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	Pid   int
}

// StartChild runs the test binary with -test.run=run (a pattern, "^$" to
// run no test, for a TestMain that dispatches on env) and the extra
// environment entries env ("K=V"). Its stderr goes to this process's.
// When t ends its stdin is closed; a child that does not exit within
// ChildExitWait is killed, and either way a failed exit fails t.
func StartChild(t testing.TB, run string, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	c := &Child{cmd: cmd, stdin: stdin, lines: make(chan string, 64), Pid: cmd.Process.Pid}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() {
			for range c.lines { // drain, so the child never blocks writing
			}
			done <- cmd.Wait()
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("child %v: %v", env, err)
			}
		case <-time.After(ChildExitWait):
			cmd.Process.Kill()
			<-done
			t.Errorf("child %v did not exit within %v of EOF on stdin; killed", env, ChildExitWait)
		}
	})
	return c
}

// Next returns the child's next line of output, or an error when the
// child has exited or said nothing for d.
func (c *Child) Next(d time.Duration) (string, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", errors.New("child exited")
		}
		return l, nil
	case <-timer.C:
		return "", fmt.Errorf("child said nothing for %v", d)
	}
}

// Expect skips the child's lines until one starts with prefix and returns
// the rest of it, failing t if none comes within d.
func (c *Child) Expect(t testing.TB, prefix string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		l, err := c.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %q from the child: %v", prefix, err)
		}
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return rest
		}
	}
}

// Send writes line and a newline to the child's stdin.
func (c *Child) Send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatalf("write to child: %v", err)
	}
}

// CPU returns the child's user plus system CPU time so far.
func (c *Child) CPU(t testing.TB) time.Duration {
	t.Helper()
	d, err := ProcCPU(c.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// RSS returns the child's resident set in bytes.
func (c *Child) RSS(t testing.TB) int64 {
	t.Helper()
	n, err := ProcRSS(c.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// RunChild runs the test binary with -test.run=^$ (for a TestMain that
// dispatches on env) and the extra environment entries env ("K=V") to
// its end, and returns its stdout, its stderr and its exit status (-1
// when it did not exit by itself). A child still running after d is
// killed and fails t.
func RunChild(t testing.TB, d time.Duration, env ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		t.Fatalf("child %v: still running after %v; stdout %q", env, d, out.String())
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}
