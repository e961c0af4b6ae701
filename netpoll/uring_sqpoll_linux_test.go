package netpoll

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// sqThreadCount counts this process's kernel submission threads
// (iou-sqp-<pid> in /proc/self/task).
func sqThreadCount(t *testing.T) int {
	n, _ := sqThreadTicks(t)
	return n
}

// sqThreadTicks returns the number of this process's kernel submission
// threads and the CPU they used (utime+stime, clock ticks): being tasks
// of the process, their time is in the process's /proc/self/stat too.
func sqThreadTicks(t *testing.T) (n int, ticks int64) {
	t.Helper()
	comms, err := filepath.Glob("/proc/self/task/*/comm")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err != nil || !strings.HasPrefix(string(b), "iou-sqp-") {
			continue
		}
		n++
		st, err := os.ReadFile(filepath.Join(filepath.Dir(c), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command's closing parenthesis: state is
		// the 3rd field of the line, utime and stime the 14th and 15th.
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + s
		}
	}
	return n, ticks
}

// UPOLL_URING_SQPOLL=1: each poller's ring has a submission thread, a
// task of this process, and the server echoes as without it; the
// threads go with the server.
func TestUringSQPollEcho(t *testing.T) {
	needUring(t)
	t.Setenv(uringSQPollEnv, "1")
	// The submission threads of an earlier test's servers may still be
	// exiting (2 of 4 runs of this test right after
	// TestUringSQPollCloseReachesPeer counted one going as one of ours).
	testutil.WaitFor(5*time.Second, func() bool { return sqThreadCount(t) == 0 })
	before := sqThreadCount(t)
	s, err := NewServer(echoHandler, WithBackend(BackendUring), WithPollers(2))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	// A new thread names itself when it first runs.
	if !testutil.WaitFor(5*time.Second, func() bool { return sqThreadCount(t)-before == 2 }) {
		t.Errorf("%d new iou-sqp threads in /proc/self/task for 2 pollers", sqThreadCount(t)-before)
	}
	const conns, msgs = 50, 100
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialTCP(t, ln.Addr().String())
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			msg := bytes.Repeat([]byte{byte(i)}, 64)
			got := make([]byte, 64)
			for j := range msgs {
				msg[0] = byte(j)
				if _, err := c.Write(msg); err != nil {
					t.Errorf("conn %d write %d: %v", i, j, err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					t.Errorf("conn %d echo %d: %q, %v", i, j, got[:4], err)
					return
				}
			}
		}()
	}
	testutil.WaitGroup(t, &wg, 30*time.Second, "echo connections")
	st := s.Stats()
	_, ticks := sqThreadTicks(t)
	t.Logf("%d messages: %d io_uring_enter, %d submissions, %d completions; submission threads' CPU %d ticks", conns*msgs, st.Enters, st.Submissions, st.Completions, ticks)
	s.Close()
	if !testutil.WaitFor(5*time.Second, func() bool { return sqThreadCount(t) == before }) {
		t.Errorf("%d iou-sqp threads left after Close (were %d)", sqThreadCount(t), before)
	}
}

// A value of UPOLL_URING_SQPOLL that is neither 0, 1 nor a duration is
// an error naming the variable, not a submission thread by default.
func TestUringSQPollBadValue(t *testing.T) {
	needUring(t)
	for _, v := range []string{"yes", "-5ms", "0s"} {
		t.Setenv(uringSQPollEnv, v)
		before := sqThreadCount(t)
		err := uringServeErr()
		if err == nil || !strings.Contains(err.Error(), uringSQPollEnv) {
			t.Errorf("%s=%q: error %v, want one naming the variable", uringSQPollEnv, v, err)
		}
		if n := sqThreadCount(t); n != before {
			t.Errorf("%s=%q: %d submission threads, were %d", uringSQPollEnv, v, n, before)
		}
	}
}

// uringServeErr makes a BackendUring server of one poller and a
// listener, closes them, and returns the first error: an experiment
// switch's bad value fails one or the other.
func uringServeErr() error {
	s, err := NewServer(echoHandler, WithBackend(BackendUring), WithPollers(1))
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err == nil {
		ln.Close()
	}
	return err
}
