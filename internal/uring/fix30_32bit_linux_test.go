package uring

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWaitTimeoutFraction waits, with nothing ready, for timeouts that
// are not whole seconds: the wait ends when its timeout does. The kernel
// reads the EXT_ARG's timeout as a __kernel_timespec (two 64-bit fields)
// whatever the process's word size. A completion that the test provokes
// after a few seconds bounds a wait that would otherwise never end.
//
// A signal also ends a wait (SubmitAndWait returns, and its caller
// looks again): a wait that ends early is made again for the time left,
// as a caller does, a few times at most. A timeout read wrongly ends
// every wait early (its seconds or its fraction lost: the first wait at
// 100 ms or 1 s, the later ones at once), which no few retries cover.
func TestWaitTimeoutFraction(t *testing.T) {
	r := newRing(t, 0)
	fd, c := tcpPair(t)
	for i, timeout := range []time.Duration{50 * time.Millisecond, 1100 * time.Millisecond} {
		ud := uint64(100 + i)
		r.SQE().PrepPollAdd(fd, unix.POLLIN, false, false, ud)
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		// The poll completes only when the client writes: after the
		// wait's end, or to end a wait that overran.
		release := time.AfterFunc(timeout+3*time.Second, func() { c.Write([]byte{1}) })
		const retries = 3
		start := time.Now()
		var d time.Duration
		for early := 0; ; early++ {
			_, err := r.SubmitAndWait(1, timeout-d)
			d = time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if r.Ready() != 0 || d >= timeout-10*time.Millisecond {
				break
			}
			if early == retries {
				t.Fatalf("a wait of %v with nothing ready ended after %v, waited again for the time left %d times", timeout, d, retries)
			}
		}
		if !release.Stop() {
			t.Fatalf("a wait of %v with nothing ready lasted %v: it ended only with a completion", timeout, d)
		}
		if n := r.Ready(); n != 0 {
			t.Fatalf("%d completions after a wait of %v with nothing ready", n, timeout)
		}
		r.SQE().PrepPollRemove(ud, ud+10)
		if q, _ := waitCQE(t, r, ud+10); q.Res != 0 {
			t.Fatalf("poll remove: %+v", q)
		}
	}
}

// TestBufRingSizeOverflow: a buffer ring whose buffers together exceed
// what an int counts is refused, rather than mapped at the wrapped size
// and handed to the kernel at full length. Only a 32-bit int can be
// exceeded within the bounds on n and size.
func TestBufRingSizeOverflow(t *testing.T) {
	if strconv.IntSize == 64 {
		t.Skip("n*size fits a 64-bit int")
	}
	r := newRing(t, 0)
	for _, size := range []int{1 << 30, 1<<30 + 4096} {
		b, err := r.NewBufRing(1, 4, size)
		if err == nil {
			b.Close()
			t.Fatalf("a buffer ring of 4 buffers of %d bytes was set up", size)
		}
		if !errors.Is(err, unix.EINVAL) {
			t.Fatalf("4 buffers of %d bytes: %v, want EINVAL", size, err)
		}
	}
}
