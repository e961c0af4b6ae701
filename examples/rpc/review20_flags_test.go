//go:build unix

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
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
	stdout, stderr, status := testutil.RunChild(t, 10*time.Second, childArgsEnv+"="+args)
	if status != 2 {
		t.Errorf("%s: exit status %d, want 2; stdout %q", args, status, stdout)
	}
	if !strings.Contains(stderr, want) {
		t.Errorf("%s: stderr %q: want %q", args, stderr, want)
	}
}
