package netpoll

import (
	"errors"
	"strings"
	"testing"
)

// TestWithConfigStdThenSwitch: a poller switch given as a With option
// after WithConfig(cfg) whose cfg.Backend is BackendStd is the same
// conflict as after WithBackend(BackendStd), as WithConfig's doc says
// ("the With options for them are an error"): both name the backend in
// code. It was ignored without a word, the server running on Go's net
// with none of the switches asked for. An option given before
// WithConfig is replaced by it, and stays no conflict.
func TestWithConfigStdThenSwitch(t *testing.T) {
	t.Setenv(EnvVar, "")
	for _, tc := range []struct {
		key string
		opt Option
	}{
		{"pollers", WithPollers(3)},
		{"trigger", WithTrigger(EdgeTriggered)},
		{"wait", WithWait(WaitBlock)},
		{"spin", WithSpin(5)},
		{"dispatch", WithDispatch(DispatchInline)},
		{"balance", WithBalance(LeastConnections)},
		{"reuseport", WithReusePort(true)},
	} {
		t.Run(tc.key, func(t *testing.T) {
			s, err := NewServer(echoHandler, WithConfig(Config{Backend: BackendStd}), tc.opt)
			if err == nil {
				s.Close()
				t.Fatalf("WithConfig(std) then the %s option: a server on %s, want a conflict", tc.key, s.Config())
			}
			if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("WithConfig(std) then the %s option: %v, want ErrBadConfig naming %s", tc.key, err, tc.key)
			}
			s, err = NewServer(echoHandler, tc.opt, WithConfig(Config{Backend: BackendStd}))
			if err != nil {
				t.Fatalf("the %s option then WithConfig(std), which replaces it: %v", tc.key, err)
			}
			s.Close()
		})
	}
}
