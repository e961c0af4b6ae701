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
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1")
	cmd.Env = append(os.Environ(), childArgsEnv+"=-mode both -addr 127.0.0.1:0 -n 1 -timeout -1s")
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
		t.Fatalf("still running after 10 s; stdout %q", stdout.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("exit %v, want status 2; stdout %q", err, stdout.String())
	}
	if !strings.Contains(stderr.String(), "-timeout") {
		t.Errorf("stderr %q: want an error naming -timeout", stderr.String())
	}
}
