package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// eventpolls counts the epoll instances that process pid holds open:
// the Go runtime's netpoller's one, and one per upoll poller of the
// epoll backend.
func eventpolls(t *testing.T, pid int) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && l == "anon_inode:[eventpoll]" {
			n++
		}
	}
	return n
}

// TestUPOLLPollersHonoured: the example passes -pollers to the listener
// only when it is given, so that UPOLL decides the poller count
// otherwise, as for any program on upoll (README.md: "UPOLL=...
// go run ./examples/echo # any program, another configuration"), and
// an explicit -pollers wins over UPOLL. Before, it always passed
// WithPollers(*pollers), whose default 0 is an explicit option that
// wins over UPOLL: UPOLL=pollers=3 started the default count (a quarter
// of GOMAXPROCS).
// The count is read off the child's descriptors: one epoll instance per
// poller, plus the Go runtime's.
func TestUPOLLPollersHonoured(t *testing.T) {
	for _, tc := range []struct {
		args string
		want int // pollers
	}{
		{"", 3},           // UPOLL's
		{"-pollers 2", 2}, // the flag's
	} {
		t.Run(fmt.Sprintf("args=%q", tc.args), func(t *testing.T) {
			child := testutil.StartChild(t, "^$",
				fmt.Sprintf("%s=-addr 127.0.0.1:0 -dir %s %s", childArgsEnv, t.TempDir(), tc.args),
				"UPOLL=backend=epoll,pollers=3")
			if rest := child.Expect(t, "", 10*time.Second); !strings.Contains(rest, "serving on ") {
				t.Fatalf("first line %q, want the address", rest)
			}
			got := eventpolls(t, child.Pid) - 1 // the runtime's
			if err := syscall.Kill(child.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("UPOLL=pollers=3 %s: the server has %d pollers, want %d", tc.args, got, tc.want)
			}
		})
	}
}
