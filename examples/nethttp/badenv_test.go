//go:build unix

package main

import "testing"

// TestBadUPOLL: a bad UPOLL override is a usage error (status 2, the
// override's message), as in examples/echo, not a failure (status 1).
func TestBadUPOLL(t *testing.T) {
	t.Setenv("UPOLL", "trigger=sideways")
	expectUsageError(t, "", `key "trigger" value "sideways"`)
}
