package netpoll

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

const review16aDialEnv = "UPOLL_REVIEW16A_DIAL_CHILD"

// TestReview16aDialGroupRetried: the process-wide pollers of dialed
// connections, started by the first Dial that needs them, are started
// again by a later Dial when that first start failed for want of
// descriptors, for the default group and for a Dialer whose Options ask
// for another backend (io_uring's, where it can run). It runs in a
// child process (this test binary re-executed), whose first Dial is
// made at the descriptor limit.
func TestReview16aDialGroupRetried(t *testing.T) {
	if os.Getenv(review16aDialEnv) == "1" {
		review16aDialChild()
		return
	}
	child := testutil.StartChild(t, "^TestReview16aDialGroupRetried$", review16aDialEnv+"=1", EnvVar+"=")
	for _, what := range []string{"Dial", "uring Dialer"} {
		full := child.Expect(t, what+" full: ", 30*time.Second)
		free := child.Expect(t, what+" free: ", 30*time.Second)
		t.Logf("%s out of descriptors: %s; with descriptors free: %s", what, full, free)
		if !strings.Contains(full, "too many open files") {
			t.Errorf("%s out of descriptors: %s; want EMFILE", what, full)
		}
		if free != "<nil>" && !strings.HasPrefix(free, "skip ") {
			t.Errorf("%s with descriptors free again: %s; want <nil>", what, free)
		}
		if left := child.Expect(t, what+" fds left by the failed dial: ", 30*time.Second); left != "0" {
			t.Errorf("%s: the failed dial left %s descriptors open", what, left)
		}
	}
}

// review16aDialChild dials a listener of Go's net, first at the
// descriptor limit (the first dial of the process), then with
// descriptors free, with the default Dialer and with one that asks for
// BackendUring, and prints what each returned.
func review16aDialChild() {
	defer os.Exit(0) // skip the child's test summary
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer peer.Close()
	uringErr := uringAvailable() // the probe, done: the dial groups are what meets the limit
	dial := func(opts ...Option) error {
		d := Dialer{Options: opts}
		c, err := d.DialContext(context.Background(), "tcp", peer.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	}
	var leftFDs int
	full := func(call func() error) error {
		before, err := testutil.CountFDs()
		if err != nil {
			panic(err)
		}
		err = withFDsExhausted(call)
		if after, cerr := testutil.CountFDs(); cerr == nil {
			leftFDs = after - before
		}
		return err
	}
	fmt.Printf("Dial full: %v\n", full(func() error { return dial() }))
	fmt.Printf("Dial free: %v\n", dial())
	fmt.Printf("Dial fds left by the failed dial: %d\n", leftFDs)
	if uringErr != nil {
		fmt.Printf("uring Dialer full: skip, too many open files\n")
		fmt.Printf("uring Dialer free: skip (%v)\n", uringErr)
		fmt.Printf("uring Dialer fds left by the failed dial: 0\n")
		return
	}
	fmt.Printf("uring Dialer full: %v\n", full(func() error { return dial(WithBackend(BackendUring)) }))
	fmt.Printf("uring Dialer free: %v\n", dial(WithBackend(BackendUring)))
	fmt.Printf("uring Dialer fds left by the failed dial: %d\n", leftFDs)
}
