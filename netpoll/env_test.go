package netpoll

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
)

// applied builds a configuration from DefaultConfig and opts without
// normalizing, so that each parsed field can be checked as written.
func applied(opts []Option) Config {
	cfg := DefaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

func TestParseEnvValid(t *testing.T) {
	tests := []struct {
		in    string
		check func(Config) bool
	}{
		{"", func(c Config) bool { return c.Trigger == LevelTriggered && c.Wait == DefaultConfig().Wait }},
		{"wait=block", func(c Config) bool { return c.Wait == WaitBlock }},
		{" , ,", func(c Config) bool { return c.Trigger == LevelTriggered }},
		{"trigger=et", func(c Config) bool { return c.Trigger == EdgeTriggered }},
		{"TRIGGER=Edge", func(c Config) bool { return c.Trigger == EdgeTriggered }},
		{"trigger=oneshot", func(c Config) bool { return c.Trigger == OneShot }},
		{"trigger=lt", func(c Config) bool { return c.Trigger == LevelTriggered }},
		{"wait=runtime", func(c Config) bool { return c.Wait == WaitRuntime }},
		{"wait=spin,spin=7", func(c Config) bool { return c.Wait == WaitSpin && c.Spin == 7 }},
		{"pollers=4", func(c Config) bool { return c.Pollers == 4 }},
		{"dispatch=inline", func(c Config) bool { return c.Dispatch == DispatchInline }},
		{"balance=lc", func(c Config) bool { return c.Balance == LeastConnections }},
		{"balance=roundrobin", func(c Config) bool { return c.Balance == RoundRobin }},
		{"reuseport=1", func(c Config) bool { return c.ReusePort }},
		{"maxinput=64k", func(c Config) bool { return c.MaxInput == 64<<10 }},
		{"maxoutput=2m", func(c Config) bool { return c.MaxOutput == 2<<20 }},
		{"maxinput=1000", func(c Config) bool { return c.MaxInput == 1000 }},
		{"idletimeout=1m30s", func(c Config) bool { return c.IdleTimeout == 90*time.Second }},
		{"readtimeout=0", func(c Config) bool { return c.ReadTimeout == 0 }},
		{"writetimeout=250ms", func(c Config) bool { return c.WriteTimeout == 250*time.Millisecond }},
		{" trigger = et , wait = runtime , pollers = 4 , dispatch = inline ", func(c Config) bool {
			return c.Trigger == EdgeTriggered && c.Wait == WaitRuntime && c.Pollers == 4 && c.Dispatch == DispatchInline
		}},
		{"pollers=2,pollers=3", func(c Config) bool { return c.Pollers == 3 }}, // last wins
	}
	for _, tt := range tests {
		opts, err := ParseEnv(tt.in)
		if err != nil {
			t.Errorf("ParseEnv(%q): %v", tt.in, err)
			continue
		}
		if cfg := applied(opts); !tt.check(cfg) {
			t.Errorf("ParseEnv(%q) gave %+v", tt.in, cfg)
		}
	}
}

func TestParseEnvInvalid(t *testing.T) {
	tests := []struct{ in, key string }{
		{"trigger", ""},
		{"trigger=sideways", "trigger"},
		{"wait=forever", "wait"},
		{"pollers=0", "pollers"},
		{"pollers=-1", "pollers"},
		{"pollers=many", "pollers"},
		{"pollers=99999999999999999999", "pollers"},
		{"spin=0", "spin"},
		{"dispatch=thread", "dispatch"},
		{"balance=random", "balance"},
		{"reuseport=maybe", "reuseport"},
		{"maxinput=0", "maxinput"},
		{"maxinput=-5k", "maxinput"},
		{"maxoutput=9999999999g", "maxoutput"},
		{"maxoutput=k", "maxoutput"},
		{"idletimeout=-1s", "idletimeout"},
		{"readtimeout=soon", "readtimeout"},
		{"trigger=et,colour=blue", "colour"},
		{"=et", ""},
	}
	for _, tt := range tests {
		opts, err := ParseEnv(tt.in)
		if err == nil {
			t.Errorf("ParseEnv(%q) = %d options, want an error", tt.in, len(opts))
			continue
		}
		if !errors.Is(err, ErrBadEnv) {
			t.Errorf("ParseEnv(%q) error %v does not wrap ErrBadEnv", tt.in, err)
		}
		var ee *EnvError
		if !errors.As(err, &ee) {
			t.Fatalf("ParseEnv(%q) error %T is not *EnvError", tt.in, err)
		}
		if ee.Key != tt.key {
			t.Errorf("ParseEnv(%q): key %q, want %q", tt.in, ee.Key, tt.key)
		}
		if !strings.Contains(err.Error(), EnvVar) || (tt.key != "" && !strings.Contains(err.Error(), tt.key)) {
			t.Errorf("ParseEnv(%q): message %q does not name %s and the key", tt.in, err, EnvVar)
		}
	}
}

// FuzzParseEnv checks that no input panics, that a rejected input names
// a key or entry from the input, and that an accepted one yields a
// configuration whose fields stay in range.
func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{"", "trigger=et,wait=runtime,pollers=4,dispatch=inline",
		"maxinput=64k", "idletimeout=1s", "bad", "balance=lc,reuseport=true"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := ParseEnv(s)
		if err != nil {
			var ee *EnvError
			if !errors.As(err, &ee) {
				t.Fatalf("error %T is not *EnvError", err)
			}
			if !strings.Contains(strings.ToLower(s), strings.ToLower(ee.Key)) {
				t.Fatalf("error names key %q not in input %q", ee.Key, s)
			}
			return
		}
		cfg := applied(opts)
		if cfg.Pollers <= 0 || cfg.Spin <= 0 || cfg.MaxInput <= 0 || cfg.MaxOutput <= 0 {
			t.Fatalf("ParseEnv(%q) gave out-of-range config %+v", s, cfg)
		}
		if cfg.ReadTimeout < 0 || cfg.WriteTimeout < 0 || cfg.IdleTimeout < 0 {
			t.Fatalf("ParseEnv(%q) gave negative timeout %+v", s, cfg)
		}
		if cfg.Trigger > OneShot || cfg.Wait > WaitRuntime || cfg.Dispatch > DispatchInline || cfg.Balance > LeastConnections {
			t.Fatalf("ParseEnv(%q) gave unknown enum %+v", s, cfg)
		}
	})
}

// TestEnvOverrideChangesServer checks that UPOLL changes the running
// configuration of an unchanged program, and that options in code win.
func TestEnvOverrideChangesServer(t *testing.T) {
	t.Setenv(EnvVar, "trigger=edge,wait=runtime,pollers=3,dispatch=inline,idletimeout=1m")
	s, addr := startServer(t, echoHandler)
	cfg := s.Config()
	if cfg.Trigger != EdgeTriggered || cfg.Wait != WaitRuntime || cfg.Pollers != 3 ||
		cfg.Dispatch != DispatchInline || cfg.IdleTimeout != time.Minute {
		t.Fatalf("UPOLL did not apply: %+v", cfg)
	}
	if n := len(s.Stats().PerPoller); n != 3 {
		t.Fatalf("%d pollers running, want 3", n)
	}
	runEchoClients(t, addr, 4, 3, 4096)

	s2, _ := startServer(t, echoHandler, WithTrigger(OneShot), WithPollers(1))
	cfg = s2.Config()
	if cfg.Trigger != OneShot || cfg.Pollers != 1 {
		t.Fatalf("explicit options lost to UPOLL: %+v", cfg)
	}
	if cfg.Wait != WaitRuntime || cfg.Dispatch != DispatchInline {
		t.Fatalf("UPOLL keys not set in code did not apply: %+v", cfg)
	}
}

// TestEnvOverrideBadFailsStart checks that a bad UPOLL makes the start
// fail with an error naming the key, rather than running on defaults.
func TestEnvOverrideBadFailsStart(t *testing.T) {
	t.Setenv(EnvVar, "trigger=edge,colour=blue")
	if s, err := NewServer(echoHandler); err == nil {
		s.Close()
		t.Fatal("NewServer started with a bad UPOLL")
	} else if !errors.Is(err, ErrBadEnv) || !strings.Contains(err.Error(), `"colour"`) {
		t.Fatalf("NewServer error %q does not name the bad key", err)
	}
	if ln, err := Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
		t.Fatal("Listen succeeded with a bad UPOLL")
	} else if !errors.Is(err, ErrBadEnv) {
		t.Fatalf("Listen error %v does not wrap ErrBadEnv", err)
	}
}

func TestBadConfigRejected(t *testing.T) {
	for _, opt := range []Option{WithTrigger(Trigger(9)), WithWait(WaitStrategy(-1)),
		WithDispatch(Dispatch(5)), WithBalance(Balance(3)), WithIdleTimeout(-time.Second)} {
		if s, err := NewServer(echoHandler, opt); err == nil {
			s.Close()
			t.Errorf("NewServer accepted a bad option: %+v", s.Config())
		} else if !errors.Is(err, ErrBadConfig) {
			t.Errorf("error %v does not wrap ErrBadConfig", err)
		}
	}
}

// TestDefaultPollers: a Server without a handler starts a quarter of
// GOMAXPROCS pollers (at least one), one with a handler GOMAXPROCS, and
// UPOLL or an option still decides when given.
func TestDefaultPollers(t *testing.T) {
	t.Setenv(EnvVar, "")
	procs := runtime.GOMAXPROCS(0)
	if got, want := DefaultPollers(true), procs; got != want {
		t.Errorf("DefaultPollers(true) = %d, want %d", got, want)
	}
	if got, want := DefaultPollers(false), max(1, procs/4); got != want {
		t.Errorf("DefaultPollers(false) = %d, want %d", got, want)
	}
	count := func(h Handler, opts ...Option) int {
		t.Helper()
		s, err := NewServer(h, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if n := len(s.Stats().PerPoller); n != s.Config().Pollers {
			t.Fatalf("%d pollers running, config says %d", n, s.Config().Pollers)
		}
		return s.Config().Pollers
	}
	if n := count(echoHandler); n != procs {
		t.Errorf("handler server: %d pollers, want %d", n, procs)
	}
	if n := count(nil); n != max(1, procs/4) {
		t.Errorf("accept-mode server: %d pollers, want %d", n, max(1, procs/4))
	}
	if n := count(nil, WithPollers(3)); n != 3 {
		t.Errorf("accept-mode server WithPollers(3): %d pollers", n)
	}
	if n := count(nil, WithPollers(0)); n != max(1, procs/4) {
		t.Errorf("accept-mode server WithPollers(0): %d pollers, want the default", n)
	}
	t.Setenv(EnvVar, "pollers=5")
	if n := count(nil); n != 5 {
		t.Errorf("accept-mode server with UPOLL=pollers=5: %d pollers", n)
	}
}
