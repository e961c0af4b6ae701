package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// lines collects what run prints, line by line, for another goroutine.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan string
}

func newLines() *lines { return &lines{ch: make(chan string, 64)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line) // incomplete: keep for the next Write
			return len(p), nil
		}
		select {
		case l.ch <- strings.TrimSuffix(line, "\n"):
		default: // nobody reads that far; the test only needs the first lines
		}
	}
}

// next returns the next line, failing the test after 10 s.
func (l *lines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l.ch:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no output line within 10 s")
		return ""
	}
}

// TestRunEchoes runs the program in-process: an explicit -trigger wins
// over UPOLL, UPOLL sets what the flags leave alone, several connections
// get their messages back byte for byte, and cancelling the context
// shuts the server down, prints its counters and leaves no descriptor
// open.
func TestRunEchoes(t *testing.T) {
	t.Setenv("UPOLL", "trigger=edge,pollers=3")
	fds := testutil.FDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := newLines(), &bytes.Buffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-trigger", "oneshot", "-wait", "runtime"}, out, errOut)
	}()

	first := out.next(t)
	const prefix = "echo: listening on "
	if !strings.HasPrefix(first, prefix) {
		t.Fatalf("first line %q, want %q...", first, prefix)
	}
	for _, want := range []string{"backend=epoll", "trigger=oneshot", "wait=runtime", "dispatch=handoff", "pollers=3"} {
		if !strings.Contains(first, want) {
			t.Errorf("first line %q lacks %q", first, want)
		}
	}
	addr, _, _ := strings.Cut(strings.TrimPrefix(first, prefix), " ")

	const conns, msgs = 3, 20
	sent := 0
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		for m := range msgs {
			msg := bytes.Repeat([]byte(fmt.Sprintf("conn %d msg %d;", i, m)), 1+m*50)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("conn %d msg %d: %v", i, m, err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("conn %d msg %d: echo differs", i, m)
			}
			sent += len(msg)
		}
		defer c.Close() // left open: Shutdown must close idle connections
	}

	stopRun(t, cancel, done, errOut)
	if l := out.next(t); l != "echo: shutting down" {
		t.Errorf("line %q, want the shutdown notice", l)
	}
	want := fmt.Sprintf("echo: %d conns, %d B in, %d B out,", conns, sent, sent)
	if l := out.next(t); !strings.HasPrefix(l, want) {
		t.Errorf("stats line %q, want prefix %q", l, want)
	}
	if l := out.next(t); !strings.Contains(l, " epoll_wait calls (") {
		t.Errorf("wait line %q does not name epoll_wait", l)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr: %q", errOut)
	}

	testutil.WaitFor(5*time.Second, func() bool { return testutil.FDs(t) <= fds+conns })
	if n := testutil.FDs(t); n > fds+conns { // the clients' ends close at return
		t.Errorf("%d descriptors open after shutdown, %d before (+%d clients)", n, fds, conns)
	}
}

// TestRunNamesItsBackend: under UPOLL=backend=std the program says so,
// shows none of the poller switches (they do not apply there), and
// does not report wait calls that Go's netpoller makes, not upoll.
func TestRunNamesItsBackend(t *testing.T) {
	t.Setenv("UPOLL", "backend=std")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := newLines(), &bytes.Buffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, out, errOut) }()
	first := out.next(t)
	if !strings.HasSuffix(first, "(backend=std)") || strings.Contains(first, "trigger=") {
		t.Fatalf("first line %q, want the backend and no poller switch", first)
	}
	addr, _, _ := strings.Cut(strings.TrimPrefix(first, "echo: listening on "), " ")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 5)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello" {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()
	stopRun(t, cancel, done, errOut)
	var lines []string
	for range 3 { // the shutdown notice, the totals, the wait line
		lines = append(lines, out.next(t))
	}
	if !strings.HasPrefix(lines[1], "echo: 1 conns, 5 B in, 5 B out,") || lines[2] != "echo: backend std: no waits of upoll's own" {
		t.Errorf("lines after shutdown %q", lines)
	}
}

// TestRunInlineSlowReader: under DispatchInline (which README shows)
// the echo serves a client that sends 8 MiB before it reads: its
// handler's writes say ErrWouldBlock once MaxOutput is queued, and every
// byte must still come back in order, not a reset connection. The
// default dispatch (its Flush waits, handing the poller on) too.
func TestRunInlineSlowReader(t *testing.T) {
	for _, env := range []string{"dispatch=inline", "dispatch=inline,trigger=edge", "backend=uring,dispatch=inline", "dispatch=handoff"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv("UPOLL", env)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out, errOut := newLines(), &bytes.Buffer{}
			done := make(chan int, 1)
			go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, out, errOut) }()
			var first string
			select {
			case first = <-out.ch:
			case code := <-done:
				if strings.Contains(env, "uring") && strings.Contains(errOut.String(), "io_uring") {
					t.Skipf("io_uring refused here: %s", errOut)
				}
				t.Fatalf("run = %d before listening, stderr %q", code, errOut)
			case <-time.After(10 * time.Second):
				t.Fatal("no output line within 10 s")
			}
			_, d, _ := strings.Cut(env, "dispatch=")
			if d, _, _ = strings.Cut(d, ","); !strings.Contains(first, "dispatch="+d) {
				t.Fatalf("first line %q", first)
			}
			addr, _, _ := strings.Cut(strings.TrimPrefix(first, "echo: listening on "), " ")
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			want := make([]byte, 8<<20)
			for i := range want {
				want[i] = byte(i * 13 / 7)
			}
			wrote := make(chan error, 1)
			go func() {
				_, err := c.Write(want)
				wrote <- err
			}()
			time.Sleep(300 * time.Millisecond) // the server's output fills up meanwhile
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("read: %v", err)
			}
			if err := <-wrote; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("echoed bytes differ")
			}
			stopRun(t, cancel, done, errOut)
		})
	}
}

// TestRunRejectsBadValues checks that bad switch values exit with
// status 2 and a message naming the flag, before anything listens.
func TestRunRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"-trigger", "sideways"}, "", `"sideways" for flag -trigger: netpoll: bad configuration: unknown trigger "sideways": want level, edge or oneshot`},
		{[]string{"-wait", "forever"}, "", `"forever" for flag -wait`},
		{[]string{"-dispatch", "mail"}, "", `"mail" for flag -dispatch`},
		{[]string{"-pollers", "-1"}, "", "bad -pollers -1"},
		{[]string{"-pollers", "many"}, "", "invalid value"},
		{[]string{"extra"}, "", "unexpected arguments"},
		{[]string{"-addr", "127.0.0.1:0"}, "trigger=sideways", `key "trigger" value "sideways"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Setenv("UPOLL", tc.env)
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if code := run(ctx, tc.args, &out, &errOut); code != 2 {
				t.Errorf("run(%q) = %d, want 2", tc.args, code)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}

// stopRun cancels run's context and waits, within a bound, for run to
// return 0.
func stopRun(t *testing.T, cancel context.CancelFunc, done <-chan int, errOut *bytes.Buffer) {
	t.Helper()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run = %d, stderr %q", code, errOut)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestRunHelp: -h and -help print the usage on stderr and exit with
// status 0, as a program whose flags exit on error does (flag.Parse);
// nothing listens. Before, they exited with status 2, a usage error's.
func TestRunHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code := run(ctx, []string{arg}, &out, &errOut)
		cancel()
		if code != 0 || !strings.Contains(errOut.String(), "Usage of echo") || out.Len() != 0 {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want 0 and the usage on stderr", arg, code, out.String(), errOut.String())
		}
	}
}
