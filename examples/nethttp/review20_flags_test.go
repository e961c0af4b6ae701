//go:build unix

package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
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
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=-addr 127.0.0.1:0 -dir %s %s", childArgsEnv, t.TempDir(), args))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s: still running after 5 s; stdout %q", args, stdout.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("%s: exit %v, want status 2", args, err)
	}
	if !strings.Contains(stderr.String(), want) || strings.Contains(stdout.String(), "serving on") {
		t.Errorf("%s: stderr %q, stdout %q: want %q and no server", args, stderr.String(), stdout.String(), want)
	}
}
