package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWaitFor(t *testing.T) {
	start := time.Now()
	if WaitFor(50*time.Millisecond, func() bool { return false }) {
		t.Fatal("WaitFor reported a condition that never held")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("WaitFor gave up after %v, before its bound", d)
	}
	n := 0
	if !WaitFor(5*time.Second, func() bool { n++; return n == 3 }) || n != 3 {
		t.Fatalf("WaitFor stopped after %d calls", n)
	}
}

func TestRecv(t *testing.T) {
	ch := make(chan int, 1)
	if _, ok := Recv(ch, 10*time.Millisecond); ok {
		t.Fatal("Recv on an empty channel reported a value")
	}
	ch <- 7
	if v, ok := Recv(ch, time.Second); !ok || v != 7 {
		t.Fatalf("Recv = %d, %v", v, ok)
	}
}

func TestIsTimeout(t *testing.T) {
	deadline := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{deadline, true},
		{fmt.Errorf("wrapped: %w", deadline), false},
		{&net.OpError{Op: "read", Net: "tcp", Err: context.DeadlineExceeded}, false},
		{os.ErrDeadlineExceeded, false},
		{errors.New("i/o timeout"), false},
		{nil, false},
	} {
		if got := IsTimeout(tc.err); got != tc.want {
			t.Errorf("IsTimeout(%#v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestFDs(t *testing.T) {
	before := FDs(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if got := FDs(t); got != before+1 {
		t.Errorf("FDs with one more file open = %d, want %d", got, before+1)
	}
	if !strings.Contains(DescribeFDs(), "/dev/null=") {
		t.Errorf("DescribeFDs = %q, want /dev/null among them", DescribeFDs())
	}
	f.Close()
	if got := FDs(t); got != before {
		t.Errorf("FDs after closing = %d, want %d", got, before)
	}
}

func TestProcCPU(t *testing.T) {
	before, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the 10 ms tick moves, for at most 5 s of wall time.
	var after time.Duration
	ok := WaitFor(5*time.Second, func() bool {
		for x, end := 0, time.Now().Add(20*time.Millisecond); time.Now().Before(end); x++ {
		}
		after, err = ProcCPU(os.Getpid())
		return err == nil && after > before
	})
	if !ok {
		t.Fatalf("ProcCPU did not move while spinning: %v -> %v, %v", before, after, err)
	}
	if _, err := ProcCPU(-1); err == nil {
		t.Fatal("ProcCPU of no process succeeded")
	}
}

// fakeTB records failures instead of stopping the test, so that a check
// can be seen failing.
type fakeTB struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (f *fakeTB) Helper()                   {}
func (f *fakeTB) Cleanup(fn func())         { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Error(args ...any)         { f.errs = append(f.errs, fmt.Sprint(args...)) }
func (f *fakeTB) Errorf(s string, a ...any) { f.errs = append(f.errs, fmt.Sprintf(s, a...)) }
func (f *fakeTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(s string, a ...any) { panic(fmt.Sprintf(s, a...)) }
func (f *fakeTB) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// TestCheckLeaksFails sees the leak check fail on a goroutine, a
// descriptor and a probe that stay, and pass when they go away.
func TestCheckLeaksFails(t *testing.T) {
	defer func(d time.Duration) { leakWait = d }(leakWait)
	leakWait = 200 * time.Millisecond
	ft := &fakeTB{TB: t}
	var probe int64
	CheckLeaks(ft, Probe{"things", func() int64 { return probe }})
	stop := make(chan struct{})
	go func() { <-stop }()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	probe = 1
	ft.end()
	close(stop)
	f.Close()
	if len(ft.errs) != 1 {
		t.Fatalf("leak check reported %d errors, want 1: %q", len(ft.errs), ft.errs)
	}
	for _, want := range []string{"goroutines", "fds", "things 0 -> 1", "TestCheckLeaksFails"} {
		if !strings.Contains(ft.errs[0], want) {
			t.Errorf("leak report lacks %q:\n%s", want, ft.errs[0])
		}
	}

	leakWait = 5 * time.Second
	ft = &fakeTB{TB: t}
	CheckLeaks(ft)
	done := make(chan struct{})
	go func() { time.Sleep(50 * time.Millisecond); close(done) }()
	ft.end()
	if len(ft.errs) != 0 {
		t.Fatalf("leak check failed on a goroutine that ended: %q", ft.errs)
	}
}

const childEnv = "TESTUTIL_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "echo" {
		// Answer each line with "echo LINE" until stdin closes.
		var line string
		for {
			if _, err := fmt.Scanln(&line); err != nil {
				os.Exit(0)
			}
			fmt.Println("echo", line)
		}
	}
	os.Exit(m.Run())
}

func TestChild(t *testing.T) {
	c := StartChild(t, "^$", childEnv+"=echo")
	c.Send(t, "hello")
	if got := c.Expect(t, "echo ", 30*time.Second); got != "hello" {
		t.Fatalf("child answered %q", got)
	}
	if cpu := c.CPU(t); cpu < 0 {
		t.Fatalf("child CPU %v", cpu)
	}
	if _, err := c.Next(50 * time.Millisecond); err == nil {
		t.Fatal("Next returned a line the child never wrote")
	}
}

func TestTile(t *testing.T) {
	s := RandomBytes(1, 1000)
	ok := [][]byte{s[500:1000], s[7:9], s[0:7], s[9:500]}
	if err := Tile(s, ok); err != nil {
		t.Fatalf("a true tiling rejected: %v", err)
	}
	for name, bad := range map[string][][]byte{
		"a byte missing":   {s[0:7], s[7:9], s[9:500], s[501:1000], {0}},
		"a piece repeated": {s[0:500], s[0:500]},
		"pieces swapped":   {s[0:7], s[9:500], s[500:1000], {s[8], s[7]}},
		"interleaved":      {append(append([]byte{}, s[0:3]...), s[500:504]...), s[3:500], s[504:1000]},
		"too short":        {s[0:999]},
	} {
		if err := Tile(s, bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestWaitGroup(t *testing.T) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { time.Sleep(10 * time.Millisecond); wg.Done() }()
	WaitGroup(t, &wg, 5*time.Second, "a sleeper")

	stuck := make(chan struct{})
	defer close(stuck)
	wg.Add(1)
	go func() { <-stuck; wg.Done() }()
	failed := func() (failed bool) {
		defer func() { failed = recover() != nil }()
		WaitGroup(&fakeTB{TB: t}, &wg, 20*time.Millisecond, "a stuck goroutine")
		return false
	}()
	if !failed {
		t.Fatal("WaitGroup did not fail on a goroutine that never finished")
	}
}
