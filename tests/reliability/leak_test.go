package reliability

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
)

// settleWait bounds how long a leak check waits for things to wind down.
const settleWait = 15 * time.Second

// baseline is what the process held before a scenario: descriptors,
// goroutines and pooled buffer nodes.
type baseline struct {
	fds        int
	goroutines int
	nodes      int64
}

func takeBaseline(t testing.TB) baseline {
	t.Helper()
	return baseline{fds: countFDs(t), goroutines: runtime.NumGoroutine(), nodes: buffer.LiveNodes()}
}

func (b baseline) String() string {
	return fmt.Sprintf("fds=%d goroutines=%d nodes=%d", b.fds, b.goroutines, b.nodes)
}

// checkLeaks records the baseline now and, when the test ends (after
// every cleanup registered later, since cleanups run last-in first-out),
// waits a bounded time for fds, goroutines and buffer nodes to return
// to it. Call it first in a test.
func checkLeaks(t testing.TB) {
	t.Helper()
	base := takeBaseline(t)
	t.Cleanup(func() { base.expect(t) })
}

// expect fails t unless the process returns to b within settleWait.
func (b baseline) expect(t testing.TB) {
	t.Helper()
	var now baseline
	ok := settle(settleWait, func() bool {
		now = takeBaseline(t)
		return now.fds <= b.fds && now.goroutines <= b.goroutines && now.nodes <= b.nodes
	})
	if ok {
		return
	}
	msg := fmt.Sprintf("leak: before %v, after %v (waited %v)", b, now, settleWait)
	if now.fds > b.fds {
		msg += "\nfds: " + describeFDs()
	}
	if now.goroutines > b.goroutines {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		msg += "\n" + firstStacks(string(buf[:n]), 12)
	}
	t.Error(msg)
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory being read
}

// describeFDs summarizes what the open descriptors point to.
func describeFDs() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	kinds := map[string]int{}
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if i := strings.IndexByte(l, ':'); i > 0 {
			l = l[:i]
		}
		kinds[l]++
	}
	return fmt.Sprint(kinds)
}

// settle polls f every 10 ms until it reports true or d passes.
func settle(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		if f() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return f()
}

func firstStacks(s string, n int) string {
	parts := strings.Split(s, "\n\n")
	if len(parts) > n {
		parts = parts[:n]
	}
	return strings.Join(parts, "\n\n")
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
