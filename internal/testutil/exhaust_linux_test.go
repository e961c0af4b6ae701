package testutil

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
)

// TestWithFDsExhaustedRestores: the limit and the descriptors are put
// back however call ends: by returning, by a panic (a failing helper's
// recover upstream) or by runtime.Goexit (t.Fatal in call). The limit is
// the whole process's: left lowered, every later test of the package
// would run out of descriptors.
func TestWithFDsExhaustedRestores(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	fds := FDs(t)
	for _, end := range []string{"return", "panic", "goexit"} {
		ran, exhausted := false, false
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { recover() }()
			WithFDsExhausted(func() {
				ran = true
				fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
				if err == nil {
					syscall.Close(fd)
				}
				exhausted = errors.Is(err, syscall.EMFILE)
				switch end {
				case "panic":
					panic("call failed")
				case "goexit":
					runtime.Goexit()
				}
			})
		}()
		<-done
		if !ran || !exhausted {
			t.Fatalf("%s: call ran %v, with the descriptors used up %v", end, ran, exhausted)
		}
		var after syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after); err != nil {
			t.Fatal(err)
		}
		if after != before {
			t.Errorf("call ended by %s: RLIMIT_NOFILE %+v, want %+v back", end, after, before)
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &before)
		}
		if n := FDs(t); n != fds {
			t.Errorf("call ended by %s: %d descriptors open, want %d (the fillers were not closed)", end, n, fds)
		}
	}
}
