//go:build unix

package main

import "testing"

// TestBadUPOLL: a bad UPOLL override is a usage error (status 2, the
// override's message), as in examples/echo, not a failure (status 1),
// in each mode.
func TestBadUPOLL(t *testing.T) {
	t.Setenv("UPOLL", "trigger=sideways")
	for _, args := range []string{"-mode server -addr 127.0.0.1:0", "-mode both -addr 127.0.0.1:0 -n 1", "-mode client -addr 127.0.0.1:9 -n 1"} {
		t.Run(args, func(t *testing.T) { expectUsageError(t, args, `key "trigger" value "sideways"`) })
	}
}
