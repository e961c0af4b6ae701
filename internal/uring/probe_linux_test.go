package uring

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// A probe made while the process is out of descriptors reports that
// (EMFILE), not a lack of io_uring, and is not kept: once descriptors
// are free the next Available answers for the kernel. Before, the first
// answer was kept whatever it was, and a moment at the descriptor limit
// turned io_uring off for the life of the process, as "unavailable".
func TestAvailableOutOfDescriptors(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("io_uring unavailable here: %v", err)
	}
	// Forget the answer, as if no probe had run yet in this process.
	probed.mu.Lock()
	probed.done, probed.err = false, nil
	probed.mu.Unlock()

	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	lim := saved
	lim.Cur = uint64(len(ents) + 16)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	var fill []int
	for range 64 { // more than the limit leaves
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fill = append(fill, fd)
	}
	full := Available()
	for _, fd := range fill {
		unix.Close(fd)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(full, unix.EMFILE) || errors.Is(full, ErrUnavailable) {
		t.Fatalf("Available out of descriptors: %v; want EMFILE, not ErrUnavailable", full)
	}
	if err := Available(); err != nil {
		t.Fatalf("Available with descriptors free again: %v (the moment without them was kept)", err)
	}
}
