package netpoll

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/uring"
)

// UPOLL_URING_BATCH: the values that parse, and those that are an error
// naming the variable, at NewServer or Listen.
func TestUringBatchEnv(t *testing.T) {
	for v, want := range map[string]struct {
		n    uint32
		wait time.Duration
	}{"": {}, "0": {}, "16,100us": {16, 100 * time.Microsecond}, "2,1s": {2, time.Second}} {
		t.Setenv(uringBatchEnv, v)
		n, wait, err := uringBatch()
		if err != nil || n != want.n || wait != want.wait {
			t.Errorf("%s=%q: %d, %v, %v; want %d, %v, nil", uringBatchEnv, v, n, wait, err, want.n, want.wait)
		}
	}
	needUring(t)
	for _, v := range []string{"16", "1,100us", "5000,1ms", "16,0", "16,2s", "x,1ms", "16,100"} {
		t.Setenv(uringBatchEnv, v)
		if err := uringServeErr(); err == nil || !strings.Contains(err.Error(), uringBatchEnv) {
			t.Errorf("%s=%q: error %v, want one naming the variable", uringBatchEnv, v, err)
		}
	}
}

// UPOLL_URING_BATCH=16,100us under each wait strategy (and the single
// issuer of WaitBlock with DispatchInline): connections that each have
// one message in flight, fewer than a batch, are echoed (a wait that
// asked for 16 completions without its bound would never return), and
// an idle server does not wake up at every bound: its waits block.
func TestUringBatch(t *testing.T) {
	needUring(t)
	t.Setenv(uringBatchEnv, "16,100us")
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"defaults", nil},
		{"block", []Option{WithWait(WaitBlock)}},
		{"single", []Option{WithWait(WaitBlock), WithDispatch(DispatchInline)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewServer(echoHandler, append([]Option{WithBackend(BackendUring), WithPollers(1)}, tc.opts...)...)
			if err != nil {
				if errors.Is(err, uring.ErrUnavailable) {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			defer s.Close()
			ln, err := s.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				if errors.Is(err, uring.ErrUnavailable) {
					t.Skip(err)
				}
				t.Fatal(err)
			}
			go s.Serve(ln)
			runEchoClients(t, ln.Addr().String(), 4, 50, 64)
			if d := idleWaits(s, 50*time.Millisecond, 300*time.Millisecond); d > 30 {
				t.Errorf("%d waits in 300 ms on an idle server: a batched wait returns at its bound with nothing", d)
			}
		})
	}
}
