//go:build unix

package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// childArgsEnv makes the test binary run main with these arguments
// (space-separated) instead of the tests.
const childArgsEnv = "RPC_EXAMPLE_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childArgsEnv); ok {
		os.Args = append(os.Args[:1], strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestServerModeSignals: "-mode server" shuts down gracefully on SIGINT
// and on SIGTERM, as the other examples do: a call whose handler is
// running (an untagged sleep) is answered, and the process exits with
// status 0 (checked by the child's cleanup). Before, SIGTERM killed the
// process at once and the call failed.
func TestServerModeSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			child := testutil.StartChild(t, "^$", childArgsEnv+"=-mode server -addr 127.0.0.1:0")
			addr := strings.TrimSpace(child.Expect(t, "rpc server on ", 10*time.Second))
			c := dialTestClient(t, addr, DefaultMaxFrame)
			type reply struct {
				got []byte
				err error
			}
			done := make(chan reply, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				got, err := c.CallContext(ctx, OpSleep, sleepArg(500*time.Millisecond, "in flight"))
				done <- reply{got, err}
			}()
			time.Sleep(200 * time.Millisecond) // the handler sleeps
			if err := syscall.Kill(child.Pid, sig); err != nil {
				t.Fatal(err)
			}
			r := testutil.Receive(t, done, 10*time.Second, "the call in flight at "+sig.String())
			if r.err != nil || string(r.got) != "in flight" {
				t.Fatalf("the call in flight at %v: %q, %v; want it answered", sig, r.got, r.err)
			}
			if _, err := child.Next(10 * time.Second); err == nil {
				t.Error("the child printed a line after the signal, want none")
			}
		})
	}
}
