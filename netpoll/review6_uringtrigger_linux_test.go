package netpoll

import (
	"errors"
	"testing"
)

// TestUringEdgeWithPollerSwitches: BackendUring is edge-triggered
// unless a trigger is asked for, whatever other poller switch is given;
// WithConfig's marks are not switches. optConfig and optCfgTrigger,
// declared after optStdConflict without an expression, repeated its
// value: every poller switch at once. So WithPollers (or WithWait,
// WithDispatch...) under BackendUring read as a trigger asked for and
// the server ran level-triggered, without its receives; WithConfig
// followed by WithBackend(BackendStd) failed as a conflict of every
// switch; and any poller switch in code hid UPOLL's own conflict.
func TestUringEdgeWithPollerSwitches(t *testing.T) {
	needUring(t)
	t.Setenv(EnvVar, "")
	for name, opt := range map[string]Option{
		"pollers":  WithPollers(2),
		"wait":     WithWait(WaitBlock),
		"dispatch": WithDispatch(DispatchInline),
		"balance":  WithBalance(LeastConnections),
	} {
		cfg, err := buildConfig([]Option{WithBackend(BackendUring), opt}, true)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Trigger != EdgeTriggered {
			t.Errorf("BackendUring with %s and no trigger asked for: %v, want edge", name, cfg.Trigger)
		}
	}
	if cfg, err := buildConfig([]Option{WithBackend(BackendUring), WithPollers(2), WithTrigger(OneShot)}, true); err != nil || cfg.Trigger != OneShot {
		t.Errorf("an explicit trigger: %v, %v", cfg.Trigger, err)
	}
	if _, err := buildConfig([]Option{WithConfig(DefaultConfig()), WithBackend(BackendStd)}, true); err != nil {
		t.Errorf("WithConfig then WithBackend(BackendStd): %v; WithConfig gives fields, not switches", err)
	}
	t.Setenv(EnvVar, "backend=std,pollers=3")
	if _, err := buildConfig([]Option{WithDispatch(DispatchInline)}, true); !errors.Is(err, ErrBadConfig) {
		t.Errorf("UPOLL=backend=std,pollers=3 with WithDispatch in code: %v, want the conflict in UPOLL", err)
	}
}
