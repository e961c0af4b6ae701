//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNegativeTimeoutFlag: a negative -timeout is a usage error (status
// 2, a message naming the flag), as a negative -sleep is, not a client
// whose calls wait without a timeout (PoolConfig.Timeout takes a value
// <= 0 for none).
func TestNegativeTimeoutFlag(t *testing.T) {
	expectUsageError(t, "-mode both -addr 127.0.0.1:0 -n 1 -timeout -1s", "-timeout")
}

// TestExtraArguments: words after the flags are a usage error (status
// 2, a message quoting them), not ignored: an address given without
// -addr would otherwise leave the server on a port of the kernel's
// choosing, or the client dialing the default address.
func TestExtraArguments(t *testing.T) {
	expectUsageError(t, "-mode both -n 1 127.0.0.1:9", "unexpected arguments")
}

// expectUsageError runs the example with args and expects it to exit
// with status 2 within 10 s, with want in its stderr.
func expectUsageError(t *testing.T, args, want string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+args)
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
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s: still running after 10 s; stdout %q", args, stdout.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("%s: exit %v, want status 2; stdout %q", args, err, stdout.String())
	}
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("%s: stderr %q: want %q", args, stderr.String(), want)
	}
}
