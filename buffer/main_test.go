package buffer

import (
	"flag"
	"os"
	"testing"
)

// TestMain turns on the live-node count for the tests, before any of them
// runs. A run that asks for benchmarks leaves it off, so that they measure
// the production code; the checks that need the count then skip it (see
// checkLive).
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		SetNodeAccounting(true)
	}
	os.Exit(m.Run())
}
