package testutil

import (
	"fmt"
	"os"
	"syscall"
)

// WithFDsExhausted runs call with the process's descriptors used up: it
// lowers RLIMIT_NOFILE to 16 above the descriptors open now, fills what
// is left with /dev/null, and undoes both once call ends, by returning,
// panicking or runtime.Goexit (t.Fatal). The limit is the whole
// process's, so other goroutines run out too meanwhile: for a test that
// runs alone or in a child process. It returns an error only when the
// limit cannot be read or set (then call has not run, or the limit
// could not be put back).
func WithFDsExhausted(call func()) (err error) {
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		return err
	}
	lim := saved
	lim.Cur = uint64(len(ents) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	var fill []int
	// Deferred: a call that panics or exits its goroutine must not leave
	// the process without descriptors for the tests after it.
	defer func() {
		for _, fd := range fill {
			syscall.Close(fd)
		}
		if serr := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved); serr != nil && err == nil {
			err = fmt.Errorf("setrlimit back: %w", serr)
		}
	}()
	for range 64 { // more than the limit leaves
		fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		fill = append(fill, fd)
	}
	call()
	return nil
}
