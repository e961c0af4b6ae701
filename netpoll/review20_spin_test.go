package netpoll

import (
	"errors"
	"strings"
	"testing"
)

// TestSpinBounded: UPOLL refuses a spin over 65536, as it does pollers;
// WithSpin took any count, and a WaitSpin poller given a huge one never
// blocks: it polls without end while idle, a CPU for each poller. Like
// WithPollers, WithSpin over the bound is an ErrBadConfig naming Spin;
// the bound itself is accepted.
func TestSpinBounded(t *testing.T) {
	t.Setenv(EnvVar, "")
	s, err := NewServer(echoHandler, WithBackend(BackendEpoll), WithWait(WaitSpin), WithSpin(maxEnvCount+1))
	if err == nil {
		s.Close()
		t.Fatalf("WithSpin(%d): a server on %s, want ErrBadConfig", maxEnvCount+1, s.Config())
	}
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "Spin") {
		t.Fatalf("WithSpin(%d): %v, want ErrBadConfig naming Spin", maxEnvCount+1, err)
	}
	s, err = NewServer(echoHandler, WithBackend(BackendEpoll), WithWait(WaitSpin), WithSpin(maxEnvCount))
	if err != nil {
		t.Fatalf("WithSpin(%d), the bound: %v", maxEnvCount, err)
	}
	s.Close()
}
