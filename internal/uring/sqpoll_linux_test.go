package uring

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sqThreads returns the tasks of this process named iou-sqp-*: the
// kernel's submission threads.
func sqThreads(t *testing.T) []string {
	t.Helper()
	comms, err := filepath.Glob("/proc/self/task/*/comm")
	if err != nil {
		t.Fatal(err)
	}
	var tids []string
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err == nil && strings.HasPrefix(string(b), "iou-sqp-") {
			tids = append(tids, filepath.Base(filepath.Dir(c)))
		}
	}
	return tids
}

// A ring with a submission thread: the thread is a task of this
// process; submissions while it is awake make no system call, and one
// after it went idle wakes it (NEED_WAKEUP). Without the wake-up the
// completion below never comes.
func TestSQPoll(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	before := len(sqThreads(t))
	r, err := NewSQPoll(64, 0, SetupSubmitAll|SetupCoopTaskrun, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Flags()&SetupSQPoll == 0 {
		t.Fatalf("flags %#x: no SQPOLL", r.Flags())
	}
	// A new thread names itself when it first runs.
	var tids []string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if tids = sqThreads(t); len(tids) == before+1 {
			break
		}
	}
	t.Logf("submission threads of this process: %v", tids)
	if len(tids) != before+1 {
		t.Errorf("%d iou-sqp threads in /proc/self/task, want %d", len(tids), before+1)
	}

	nop := func(ud uint64) {
		t.Helper()
		r.SQE().PrepNop(ud)
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		var cqes [4]CQE
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			// Wait without entering the kernel: only the thread can
			// have submitted it.
			for _, c := range cqes[:r.Reap(cqes[:])] {
				if c.UserData == ud {
					return
				}
			}
			time.Sleep(50 * time.Microsecond)
		}
		t.Fatalf("nop %d not completed within 5s (the submission thread was not woken?)", ud)
	}
	time.Sleep(100 * time.Millisecond) // the thread goes idle
	enters := r.Counters().Enters.Load()
	nop(1)
	if w := r.Counters().Wakeups.Load(); w == 0 {
		t.Errorf("a submission to an idle thread did not wake it (%d wake-ups)", w)
	}
	if r.Counters().Enters.Load() == enters {
		t.Errorf("no io_uring_enter for the wake-up")
	}
	enters = r.Counters().Enters.Load()
	for i := range 200 {
		nop(uint64(10 + i))
	}
	got := r.Counters().Enters.Load() - enters
	t.Logf("200 submissions to a busy thread: %d io_uring_enter", got)
	if got >= 200 {
		t.Errorf("%d io_uring_enter calls for 200 submissions: every one entered the kernel", got)
	}
	if s := r.Counters().Submitted.Load(); s != 201 {
		t.Errorf("Submitted %d, want 201", s)
	}
}
