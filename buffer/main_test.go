package buffer

import (
	"os"
	"testing"
)

// TestMain turns on the live-node count before any test runs, so that
// every check of it can fail. Benchmarks turn it off for themselves
// (withoutAccounting), so that they measure the production code.
func TestMain(m *testing.M) {
	SetNodeAccounting(true)
	os.Exit(m.Run())
}

// withoutAccounting turns the live-node count off for benchmark b and
// back on when b ends.
func withoutAccounting(b *testing.B) {
	prev := SetNodeAccounting(false)
	b.Cleanup(func() { SetNodeAccounting(prev) })
}
