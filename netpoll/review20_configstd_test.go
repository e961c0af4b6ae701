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

// TestWithConfigDefaultThenSwitchWhereStdIsNative: where the system has
// no native backend, DefaultConfig names BackendStd; WithConfig of it
// followed by a poller switch means what the switch alone means there
// (not applicable, no error), not a conflict as with a backend named in
// code. Simulated here by making std the native backend.
func TestWithConfigDefaultThenSwitchWhereStdIsNative(t *testing.T) {
	t.Setenv(EnvVar, "")
	saved := nativeBackend
	nativeBackend = BackendStd
	t.Cleanup(func() { nativeBackend = saved })
	cfg := DefaultConfig()
	if cfg.Backend != BackendStd {
		t.Fatalf("DefaultConfig().Backend = %v with std native", cfg.Backend)
	}
	s, err := NewServer(echoHandler, WithPollers(3))
	if err != nil {
		t.Fatalf("WithPollers alone, std native: %v", err)
	}
	s.Close()
	s, err = NewServer(echoHandler, WithConfig(cfg), WithPollers(3))
	if err != nil {
		t.Fatalf("WithConfig(DefaultConfig()) then WithPollers, std native: %v; want what WithPollers alone gives", err)
	}
	s.Close()
}
