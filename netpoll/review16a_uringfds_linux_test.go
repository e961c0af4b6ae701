package netpoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
	"golang.org/x/sys/unix"
)

const review16aFDsEnv = "UPOLL_REVIEW16A_FDS_CHILD"

// TestReview16aUringOutOfFDsNotUnavailable: asking for io_uring while the
// process is out of descriptors fails with EMFILE, not with
// ErrBackendUnavailable, and the same call succeeds once descriptors are
// free. It runs in a child process (this test binary re-executed), whose
// first probe of io_uring meets the limit; a program that takes
// ErrBackendUnavailable as its cue to fall back to another backend would
// otherwise give io_uring up for a moment without descriptors.
func TestReview16aUringOutOfFDsNotUnavailable(t *testing.T) {
	if what := os.Getenv(review16aFDsEnv); what != "" {
		review16aFDsChild(what)
		return
	}
	needUring(t)
	for _, what := range []string{"NewServer", "Listen", "Dial"} {
		child := testutil.StartChild(t, "^TestReview16aUringOutOfFDsNotUnavailable$", review16aFDsEnv+"="+what, EnvVar+"=")
		full := child.Expect(t, what+" full: ", 30*time.Second)
		free := child.Expect(t, what+" free: ", 30*time.Second)
		t.Logf("%s out of descriptors: %s; with descriptors free: %s", what, full, free)
		if !strings.HasPrefix(full, "unavailable=false emfile=true ") {
			t.Errorf("%s out of descriptors: %s; want EMFILE, not ErrBackendUnavailable", what, full)
		}
		if free != "<nil>" {
			t.Errorf("%s with descriptors free again: %s; want <nil>", what, free)
		}
	}
}

// review16aFDsChild runs NewServer, Listen or Dial (what) with
// BackendUring, once out of descriptors (the process's first probe of
// io_uring) and once with them free again, and prints what each
// returned.
func review16aFDsChild(what string) {
	defer os.Exit(0) // skip the child's test summary
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer peer.Close()
	calls := map[string]func() error{
		"NewServer": func() error {
			s, err := NewServer(echoHandler, WithBackend(BackendUring))
			if err == nil {
				s.Close()
			}
			return err
		},
		"Listen": func() error {
			ln, err := Listen("tcp", "127.0.0.1:0", WithBackend(BackendUring))
			if err == nil {
				ln.Close()
			}
			return err
		},
		"Dial": func() error {
			// Connects into the backlog of peer, whose socket was made
			// before the descriptors ran out.
			d := Dialer{Options: []Option{WithBackend(BackendUring)}}
			c, err := d.DialContext(context.Background(), "tcp", peer.Addr().String())
			if err == nil {
				c.Close()
			}
			return err
		},
	}
	if c := calls[what]; c != nil {
		err := withFDsExhausted(c)
		fmt.Printf("%s full: unavailable=%v emfile=%v %v\n", what, errors.Is(err, ErrBackendUnavailable), errors.Is(err, unix.EMFILE), err)
		fmt.Printf("%s free: %v\n", what, c())
	}
}
