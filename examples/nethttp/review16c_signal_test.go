//go:build unix

package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestSignalRightAfterReady: a SIGINT sent as soon as the "serving on"
// line is read shuts the server down and the process exits with status
// 0 (checked by the child's cleanup), as the package doc says. Before,
// the handler was installed after that line was printed, so a signal
// sent upon it could find none and kill the process ("signal:
// interrupt"). Several rounds, since the window is short.
func TestSignalRightAfterReady(t *testing.T) {
	for i := range 10 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			child := testutil.StartChild(t, "^$", fmt.Sprintf("%s=-addr 127.0.0.1:0 -dir %s", childArgsEnv, t.TempDir()))
			if rest := child.Expect(t, "", 10*time.Second); !strings.Contains(rest, "serving on ") {
				t.Fatalf("first line %q, want the address", rest)
			}
			if err := syscall.Kill(child.Pid, syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
		})
	}
}
