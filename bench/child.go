package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// child is a re-executed bench process (server or load role) speaking the
// line protocol on its stdin/stdout.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *tailBuffer
	done   chan struct{}
}

// startChild runs this executable with args, pinned to cpu when cpu >= 0.
func startChild(cpu int, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var cmd *exec.Cmd
	if cpu >= 0 {
		cmd = exec.Command("taskset", append([]string{"-c", strconv.Itoa(cpu), exe}, args...)...)
	} else {
		cmd = exec.Command(exe, args...)
	}
	cmd.Env = append(os.Environ(), childEnv+"=1")
	c := &child{cmd: cmd, lines: make(chan string, 16), stderr: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// expect waits for a line starting with prefix and returns the rest. An
// "ERROR" line, the child's exit, or the timeout end the wait with an error
// that carries the child's stderr.
func (c *child) expect(prefix string, timeout time.Duration) (string, error) {
	_, rest, err := c.expectAny(timeout, prefix)
	return rest, err
}

// expectAny is expect for the first line that starts with any of
// prefixes; it also returns the prefix that matched.
func (c *child) expectAny(timeout time.Duration, prefixes ...string) (string, string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	var quoted []string
	for _, p := range prefixes {
		quoted = append(quoted, strconv.Quote(strings.TrimSpace(p)))
	}
	want := strings.Join(quoted, " or ")
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return "", "", fmt.Errorf("%s exited before %s%s", c.name(), want, c.stderr.suffix())
			}
			for _, p := range prefixes {
				if rest, found := strings.CutPrefix(l, p); found {
					return p, rest, nil
				}
			}
			if msg, found := strings.CutPrefix(l, "ERROR "); found {
				return "", "", fmt.Errorf("%s: %s", c.name(), msg)
			}
		case <-t.C:
			return "", "", fmt.Errorf("%s: no %s within %v%s", c.name(), want, timeout, c.stderr.suffix())
		}
	}
}

func (c *child) send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

func (c *child) name() string {
	for i, a := range c.cmd.Args {
		if a == "-role" && i+1 < len(c.cmd.Args) {
			return c.cmd.Args[i+1]
		}
	}
	return "child"
}

// stop closes stdin (the child's signal to exit), and kills it if it has not
// exited within a few seconds.
func (c *child) stop() {
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := string(bytes.TrimSpace(t.buf))
	if s == "" {
		return ""
	}
	return " (stderr: " + s + ")"
}
