//go:build unix

package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// childArgsEnv makes the test binary run main with these arguments
// (space-separated) instead of the tests.
const childArgsEnv = "NETHTTP_EXAMPLE_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childArgsEnv); ok {
		os.Args = append(os.Args[:1], strings.Fields(args)...)
		log.SetOutput(os.Stdout) // the parent reads "serving on" from stdout
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSignalFinishesDownload: SIGINT (and SIGTERM) while a client
// downloads a file shuts the server down gracefully, as the example
// says: the download in flight completes, byte for byte, and the
// process exits with status 0 (checked by the child's cleanup). On
// both listeners.
func TestSignalFinishesDownload(t *testing.T) {
	dir := t.TempDir()
	want := testutil.RandomBytes(1, 32<<20) // more than the sockets' buffers hold
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args string
		sig  syscall.Signal
	}{
		{"upoll/SIGINT", "", syscall.SIGINT},
		{"upoll/SIGTERM", "", syscall.SIGTERM},
		{"std/SIGINT", "-std", syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			child := testutil.StartChild(t, "^$", fmt.Sprintf("%s=-addr 127.0.0.1:0 -dir %s %s", childArgsEnv, dir, tc.args))
			rest := child.Expect(t, "", 10*time.Second)
			_, url, ok := strings.Cut(rest, "serving on ")
			if !ok {
				t.Fatalf("first line %q, want the address", rest)
			}
			url, _, _ = strings.Cut(url, " ")
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
			resp, err := client.Get(url + "/files/big.bin")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %s", resp.Status)
			}
			head := make([]byte, 64<<10)
			if _, err := io.ReadFull(resp.Body, head); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(child.Pid, tc.sig); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // a process that exits at once has exited by now
			tail, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("after %v, the download ended after %d of %d bytes: %v", tc.sig, len(head)+len(tail), len(want), err)
			}
			if got := append(head, tail...); !bytes.Equal(got, want) {
				t.Fatalf("after %v, the download differs (%d bytes, want %d)", tc.sig, len(got), len(want))
			}
			if _, err := child.Next(10 * time.Second); err == nil {
				t.Error("the child printed a line after the signal, want none")
			}
		})
	}
}
