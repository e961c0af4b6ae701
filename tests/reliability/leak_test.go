package reliability

import (
	"testing"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/internal/testutil"
)

// checkLeaks checks, when the test ends (after every cleanup registered
// later, since cleanups run last-in first-out), that descriptors,
// goroutines and pooled buffer nodes come back to what they were when it
// was called. Call it first in a test.
func checkLeaks(t testing.TB) {
	t.Helper()
	testutil.CheckLeaks(t, testutil.Probe{Name: "buffer nodes", Value: buffer.LiveNodes})
}

// TestNodeAccountingIsOn makes sure the node part of every leak check can
// fail: the count must move when a buffer takes a node and come back
// when it gives it up.
func TestNodeAccountingIsOn(t *testing.T) {
	before := buffer.LiveNodes()
	b := buffer.New()
	if _, err := b.WriteString("x"); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := buffer.LiveNodes(); got <= before {
		t.Fatalf("LiveNodes = %d with a node held, %d before: accounting is off", got, before)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if got := buffer.LiveNodes(); got != before {
		t.Fatalf("LiveNodes = %d after Close, want %d", got, before)
	}
}
