//go:build unix

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestBadPollersFlag: a negative -pollers is a usage error (status 2,
// a message naming the flag), as in examples/echo, not a server that
// silently runs with the default count (netpoll.WithPollers takes n <=
// 0 for the default).
func TestBadPollersFlag(t *testing.T) {
	for _, args := range []string{"-pollers -3", "-pollers=-1"} {
		t.Run(args, func(t *testing.T) { expectUsageError(t, args, "-pollers") })
	}
}

// TestExtraArguments: words after the flags are a usage error (status
// 2, a message quoting them), as in examples/echo, not ignored: a
// directory given without -dir would otherwise leave the working
// directory served.
func TestExtraArguments(t *testing.T) {
	expectUsageError(t, "/tmp", "unexpected arguments")
}

// expectUsageError runs the example with args after -addr and -dir and
// expects it to exit with status 2 within 5 s, with want in its stderr
// and without serving.
func expectUsageError(t *testing.T, args, want string) {
	t.Helper()
	stdout, stderr, status := testutil.RunChild(t, 5*time.Second,
		fmt.Sprintf("%s=-addr 127.0.0.1:0 -dir %s %s", childArgsEnv, t.TempDir(), args))
	if status != 2 {
		t.Errorf("%s: exit status %d, want 2", args, status)
	}
	if !strings.Contains(stderr, want) || strings.Contains(stdout, "serving on") {
		t.Errorf("%s: stderr %q, stdout %q: want %q and no server", args, stderr, stdout, want)
	}
}
