package netpoll

import (
	"errors"
	"strings"
	"testing"
)

// TestBackendConfig checks how a backend is chosen and what is refused:
// an unknown name, and BackendStd with a poller switch given in the same
// place (code, or UPOLL); a switch from the other place is reported n/a.
func TestBackendConfig(t *testing.T) {
	t.Setenv(EnvVar, "backend=bogus")
	if _, err := NewServer(nil); !errors.Is(err, ErrBadEnv) || !strings.Contains(err.Error(), "backend") {
		t.Fatalf("UPOLL=backend=bogus: NewServer err = %v, want a bad-UPOLL error naming backend", err)
	}
	if _, err := Listen("tcp", "127.0.0.1:0"); !errors.Is(err, ErrBadEnv) {
		t.Fatalf("UPOLL=backend=bogus: Listen err = %v", err)
	}
	// Not Dial: the default dial groups read UPOLL once, for the process,
	// and would keep the error.

	t.Setenv(EnvVar, "")
	_, err := NewServer(nil, WithBackend(BackendStd), WithTrigger(EdgeTriggered))
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "trigger") || !strings.Contains(err.Error(), "std") {
		t.Fatalf("std with trigger in code: err = %v, want ErrBadConfig naming both", err)
	}
	if _, err := NewServer(nil, WithBackend(Backend(9))); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("Backend(9): err = %v", err)
	}

	t.Setenv(EnvVar, "backend=std,dispatch=inline")
	if _, err := NewServer(nil); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), EnvVar) {
		t.Fatalf("UPOLL std with dispatch: err = %v, want ErrBadConfig naming %s", err, EnvVar)
	}

	// UPOLL switches the backend of a program whose code sets switches.
	t.Setenv(EnvVar, "backend=std")
	s, err := NewServer(echoHandler, WithTrigger(EdgeTriggered), WithPollers(4))
	if err != nil {
		t.Fatalf("UPOLL=backend=std with trigger in code: %v", err)
	}
	defer s.Close()
	cfg := s.Config()
	if cfg.Backend != BackendStd || !strings.Contains(cfg.String(), "trigger=n/a") || len(s.Stats().PerPoller) != 1 {
		t.Fatalf("config %s, %d pollers: want backend std with the switches n/a", cfg, len(s.Stats().PerPoller))
	}

	// A listener of one backend cannot be served by the other's server.
	t.Setenv(EnvVar, "")
	ln, err := Listen("tcp", "127.0.0.1:0", WithBackend(BackendStd))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	native, err := NewServer(echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	defer native.Close()
	if native.Config().Backend != BackendStd {
		if err := native.Serve(ln); !errors.Is(err, errBackendMismatch) {
			t.Fatalf("Serve of a std listener on %s: err = %v", native.Config().Backend, err)
		}
	}
}
