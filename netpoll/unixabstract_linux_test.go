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

// An abstract Unix-domain name ("@name") may fill sun_path: 108 bytes
// with its '@', which needs no NUL after it. Go's net listens on and
// dials such a name; upoll refused both with EINVAL (x/sys/unix keeps a
// byte for a NUL that an abstract name does not have). One byte more
// fails in both with the same error.
func TestUnixAbstractFullLength(t *testing.T) {
	if _, err := dialGroup(); err != nil { // process-wide, never stopped: not a leak
		t.Fatal(err)
	}
	testutil.CheckLeaks(t)
	name := func(tag string, n int) string {
		p := fmt.Sprintf("@upoll-%s-%d-", tag, os.Getpid())
		return p + strings.Repeat("x", n-len(p))
	}
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			full := name(b.String(), 108)
			gl, err := net.Listen("unix", full)
			if err != nil {
				t.Skipf("Go's net cannot listen on a 108-byte abstract name: %v", err)
			}
			gl.Close()
			s, err := NewServer(echoHandler, WithBackend(b))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := s.Listen("unix", full)
			if err != nil {
				t.Fatalf("Listen on a 108-byte abstract name: %v (Go's net listens)", err)
			}
			if got := ln.Addr().String(); got != full {
				t.Errorf("Addr() = %q, want %q", got, full)
			}
			go s.Serve(ln)
			for _, dial := range []struct {
				who string
				fn  func() (net.Conn, error)
			}{
				{"Go's net", func() (net.Conn, error) { return net.DialTimeout("unix", full, 2*time.Second) }},
				{"upoll", func() (net.Conn, error) {
					return (&Dialer{Timeout: 2 * time.Second}).DialContext(context.Background(), "unix", full)
				}},
			} {
				c, err := dial.fn()
				if err != nil {
					t.Errorf("%s's dial of the 108-byte abstract name: %v", dial.who, err)
					continue
				}
				if !echoedWithin(t, c, 5*time.Second) {
					t.Errorf("%s's connection to the 108-byte abstract name not served", dial.who)
				}
				c.Close()
			}

			long := name(b.String(), 109)
			_, gerr := net.Listen("unix", long)
			_, err = s.Listen("unix", long)
			if err == nil || gerr == nil || err.Error() != gerr.Error() {
				t.Errorf("Listen on a 109-byte abstract name: upoll %v, Go's net %v", err, gerr)
			}
		})
	}
}
