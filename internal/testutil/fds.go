package testutil

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
)

// fdDir lists the calling process's descriptors (Linux).
const fdDir = "/proc/self/fd"

// FDs returns the number of descriptors this process has open, not
// counting the one used to read the directory that lists them. It fails
// t when the list cannot be read.
func FDs(t testing.TB) int {
	t.Helper()
	n, err := CountFDs()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// CountFDs is FDs for code that has no testing.TB, such as a child
// process reporting its own count.
func CountFDs() (int, error) {
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return 0, fmt.Errorf("count descriptors: %w", err)
	}
	return len(ents) - 1, nil
}

// DescribeFDs summarises what this process's descriptors point to
// ("socket", "anon_inode", a path), with a count each.
func DescribeFDs() string {
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return err.Error()
	}
	kinds := map[string]int{}
	for _, e := range ents {
		l, err := os.Readlink(fdDir + "/" + e.Name())
		if err != nil {
			continue // the directory's own descriptor, closed by now
		}
		if i := strings.IndexByte(l, ':'); i > 0 {
			l = l[:i]
		}
		kinds[l]++
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "%s=%d ", k, kinds[k])
	}
	return strings.TrimSpace(b.String())
}
