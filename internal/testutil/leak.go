package testutil

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// LeakWait bounds how long CheckLeaks waits for a test's goroutines and
// descriptors to wind down.
const LeakWait = 15 * time.Second

// leakWait is LeakWait; this package's own test shortens it.
var leakWait = LeakWait

// Probe is one more quantity a leak check expects to come back to its
// value before the test, such as a count of pooled buffers.
type Probe struct {
	Name  string
	Value func() int64
}

// snapshot is what the process held at one moment.
type snapshot struct {
	goroutines []string
	fds        int
	probes     []int64
}

func take(t testing.TB, probes []Probe) snapshot {
	s := snapshot{goroutines: LiveGoroutines(), fds: FDs(t)}
	for _, p := range probes {
		s.probes = append(s.probes, p.Value())
	}
	return s
}

// within reports whether s holds no more than base of everything.
func (s snapshot) within(base snapshot) bool {
	if len(s.goroutines) > len(base.goroutines) || s.fds > base.fds {
		return false
	}
	for i := range s.probes {
		if s.probes[i] > base.probes[i] {
			return false
		}
	}
	return true
}

// CheckLeaks records this process's live goroutines, open descriptors and
// the probes now and, when t ends, fails t unless all of them come back
// to at most those values within LeakWait. Cleanups run last-in first-out,
// so a call at the start of a test checks after everything the test
// registered later has been closed. Tests that run in parallel with
// others cannot use it: their goroutines would count.
func CheckLeaks(t testing.TB, probes ...Probe) {
	t.Helper()
	initNetpoll()
	base := take(t, probes)
	t.Cleanup(func() {
		var now snapshot
		if WaitFor(leakWait, func() bool { now = take(t, probes); return now.within(base) }) {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "leak after %v: goroutines %d -> %d, fds %d -> %d",
			leakWait, len(base.goroutines), len(now.goroutines), base.fds, now.fds)
		for i, p := range probes {
			fmt.Fprintf(&b, ", %s %d -> %d", p.Name, base.probes[i], now.probes[i])
		}
		if now.fds > base.fds {
			fmt.Fprintf(&b, "\nfds: %s", DescribeFDs())
		}
		if extra := newStacks(base.goroutines, now.goroutines); len(extra) > 0 {
			fmt.Fprintf(&b, "\ngoroutines not there before:\n%s", strings.Join(first(extra, 12), "\n\n"))
		}
		t.Error(b.String())
	})
}

// initNetpoll makes the runtime open its netpoller (an epoll instance
// and an eventfd, kept for the life of the process) before a baseline is
// taken: it opens them on first need, and a test that was the first of
// its process to need them counted them as leaked. Under GOMAXPROCS=1,
// run without -test.timeout (whose timer needs them at once),
// reliability's TestNeverReadingPeer/level failed so: fds 7 -> 9, both
// anon_inode.
func initNetpoll() {
	r, w, err := os.Pipe() // pollable: the runtime's netpoller takes it
	if err != nil {
		return
	}
	r.Close()
	w.Close()
}

// LiveGoroutines returns the stacks of every goroutine except the idle
// workers and housekeeping goroutines of an ants pool: a pool keeps idle
// workers for reuse until they expire (ten seconds by default), so their
// number depends on what ran before, not on what leaked. A pool worker
// that is running upoll code, or code of a test, is counted.
func LiveGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var live []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "panjf2000/ants") && !strings.Contains(g, "github.com/upoll/upoll") {
			continue
		}
		live = append(live, g)
	}
	return live
}

// newStacks returns the stacks of now whose goroutine function (the top
// frame, without arguments) is not among those of base.
func newStacks(base, now []string) []string {
	seen := map[string]int{}
	for _, g := range base {
		seen[topFrame(g)]++
	}
	var extra []string
	for _, g := range now {
		k := topFrame(g)
		if seen[k] > 0 {
			seen[k]--
			continue
		}
		extra = append(extra, g)
	}
	return extra
}

// topFrame returns the function name of a goroutine's innermost frame and
// its creator, which identify what kind of goroutine it is.
func topFrame(g string) string {
	lines := strings.Split(g, "\n")
	var fn, creator string
	if len(lines) > 1 {
		fn, _, _ = strings.Cut(lines[1], "(")
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "created by ") {
			creator, _, _ = strings.Cut(l, " in goroutine")
		}
	}
	return fn + "|" + creator
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
