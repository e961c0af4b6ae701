package netpoll

import (
	"errors"
	"fmt"
	"reflect"
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
	cfg.set = 0 // which options were given is not part of the result
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
		{"maxconns=100", func(c Config) bool { return c.MaxConns == 100 }},
		{"maxconns=0", func(c Config) bool { return c.MaxConns == 0 }},
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
		{"maxconns=-1", "maxconns"},
		{"maxconns=lots", "maxconns"},
		{"trigger=et,colour=blue", "colour"},
		{"=et", ""},
		// Unicode letters that fold or lower-case onto ASCII ones (the
		// Kelvin sign onto k, a long s onto s) do not spell a name.
		{"wait=bloc\u212a", "wait"},
		{"backend=\u017ftd", "backend"},
		{"bac\u212aend=std", "bac\u212aend"},
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

// FuzzParseEnv compares ParseEnv with envModel, a second reading of the
// syntax EnvVar documents: both must accept the same inputs, reject the
// same ones naming the same key, and give the same configuration. An
// accepted input must also survive a round trip (its configuration
// written back in the UPOLL syntax parses to the same configuration),
// and each of its entries alone must change its own field and no other.
func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{"", "trigger=et,wait=runtime,pollers=4,dispatch=inline",
		"dispatch=each", "dispatch=handoff,wait=adaptive", "maxinput=64k", "maxoutput=3M,maxinput=1g", "budget=16m", "budget=0", "idletimeout=1s,readtimeout=0", "maxconns=3",
		"bad", "balance=lc,reuseport=true", "backend=std", "backend=epoll,trigger=et", "spin=7,wait=spin", "TRIGGER = OneShot ,, pollers=2,pollers=3",
		"writetimeout=-1s", "maxinput=1099511627777", "colour=blue", "=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, err := ParseEnv(s)
		want, wantKey, wantErr := envModel(s)
		if err != nil {
			var ee *EnvError
			if !errors.As(err, &ee) {
				t.Fatalf("ParseEnv(%q): error %T is not *EnvError", s, err)
			}
			if !wantErr {
				t.Fatalf("ParseEnv(%q) = %v; the model accepts it as %+v", s, err, want)
			}
			if ee.Key != wantKey {
				t.Fatalf("ParseEnv(%q) blames key %q, the model %q", s, ee.Key, wantKey)
			}
			return
		}
		if wantErr {
			t.Fatalf("ParseEnv(%q) accepted what the model rejects at key %q", s, wantKey)
		}
		got := applied(opts)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseEnv(%q):\n got %+v\nwant %+v", s, got, want)
		}
		again, err := ParseEnv(formatEnv(got))
		if err != nil {
			t.Fatalf("ParseEnv(%q), the round trip of %q: %v", formatEnv(got), s, err)
		}
		if back := applied(again); !reflect.DeepEqual(back, got) {
			t.Fatalf("round trip of %q through %q:\n got %+v\nwant %+v", s, formatEnv(got), back, got)
		}
		for entry := range strings.SplitSeq(s, ",") {
			if strings.TrimSpace(entry) == "" {
				continue
			}
			key, _, _ := strings.Cut(entry, "=")
			key = lowerASCII(strings.TrimSpace(key))
			one, err := ParseEnv(entry)
			if err != nil {
				t.Fatalf("entry %q of accepted %q rejected alone: %v", entry, s, err)
			}
			if changed := changedFields(DefaultConfig(), applied(one)); len(changed) > 1 ||
				(len(changed) == 1 && changed[0] != envFields[key]) {
				t.Fatalf("entry %q changed fields %v, want only %s", entry, changed, envFields[key])
			}
		}
	})
}

// lowerASCII is the model's case folding: ASCII letters only, every
// other byte kept (strings.ToLower and strings.Map turn invalid UTF-8
// into U+FFFD, and the Kelvin sign into k).
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// envFields maps each UPOLL key to the Config field it sets.
var envFields = map[string]string{
	"backend": "Backend", "trigger": "Trigger", "wait": "Wait", "spin": "Spin", "pollers": "Pollers",
	"dispatch": "Dispatch", "balance": "Balance", "reuseport": "ReusePort",
	"maxinput": "MaxInput", "maxoutput": "MaxOutput", "budget": "BufferBudget", "readtimeout": "ReadTimeout", "maxconns": "MaxConns",
	"writetimeout": "WriteTimeout", "idletimeout": "IdleTimeout",
}

// envModel reads s as EnvVar's documentation describes it, written
// apart from ParseEnv: the configuration it gives, or the key of the
// first bad entry ("" for an entry with no '=').
func envModel(s string) (cfg Config, badKey string, bad bool) {
	cfg = DefaultConfig()
	names := map[string]map[string]int{
		"backend":  {"default": int(BackendDefault), "epoll": int(BackendEpoll), "std": int(BackendStd), "uring": int(BackendUring), "io_uring": int(BackendUring)},
		"trigger":  {"level": int(LevelTriggered), "lt": int(LevelTriggered), "edge": int(EdgeTriggered), "et": int(EdgeTriggered), "oneshot": int(OneShot)},
		"wait":     {"default": int(WaitDefault), "block": int(WaitBlock), "spin": int(WaitSpin), "runtime": int(WaitRuntime), "adaptive": int(WaitAdaptive)},
		"dispatch": {"handoff": int(DispatchHandoff), "pool": int(DispatchPool), "inline": int(DispatchInline), "each": int(DispatchEach)},
		"balance":  {"roundrobin": int(RoundRobin), "rr": int(RoundRobin), "leastconn": int(LeastConnections), "lc": int(LeastConnections)},
	}
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		eq := strings.IndexByte(entry, '=')
		if eq < 0 {
			return cfg, "", true
		}
		key := lowerASCII(strings.TrimSpace(entry[:eq]))
		v := lowerASCII(strings.TrimSpace(entry[eq+1:]))
		field := reflect.ValueOf(&cfg).Elem().FieldByName(envFields[key])
		switch key {
		case "backend", "trigger", "wait", "dispatch", "balance":
			n, ok := names[key][v]
			if !ok {
				return cfg, key, true
			}
			field.SetInt(int64(n))
		case "reuseport":
			b, ok := map[string]bool{"1": true, "t": true, "true": true, "0": false, "f": false, "false": false}[v]
			if !ok {
				return cfg, key, true
			}
			cfg.ReusePort = b
		case "pollers", "spin":
			n, ok := modelCount(v)
			if !ok || n < 1 || n > 1<<16 {
				return cfg, key, true
			}
			field.SetInt(int64(n))
		case "maxinput", "maxoutput", "budget":
			mult := int64(1)
			if k := strings.IndexAny(v, "kmg"); k >= 0 && k == len(v)-1 {
				mult = map[byte]int64{'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}[v[k]]
				v = v[:k]
			}
			n, ok := modelCount(v)
			if !ok || n < 1 || n > (1<<40)/mult {
				return cfg, key, true
			}
			if key != "budget" && n*mult > 1<<30 {
				return cfg, key, true // the per-connection bounds stop at 1 GiB
			}
			field.SetInt(n * mult)
		case "readtimeout", "writetimeout", "idletimeout":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return cfg, key, true
			}
			field.SetInt(int64(d))
		case "maxconns":
			n, ok := modelCount(v)
			if !ok || n < 0 || n > 1<<30 {
				return cfg, key, true
			}
			field.SetInt(n)
		default:
			return cfg, key, true
		}
	}
	return cfg, "", false
}

// modelCount parses an optionally signed decimal integer of at most 18
// digits, enough for every bound the keys have.
func modelCount(v string) (int64, bool) {
	neg := false
	if v != "" && (v[0] == '+' || v[0] == '-') {
		neg, v = v[0] == '-', v[1:]
	}
	if v == "" {
		return 0, false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	v = strings.TrimLeft(v, "0")
	if len(v) > 18 {
		v = "999999999999999999" // beyond every bound, but a number
	}
	var n int64
	for _, c := range v {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// formatEnv writes cfg's UPOLL-settable fields in the UPOLL syntax.
func formatEnv(cfg Config) string {
	trig := map[Trigger]string{LevelTriggered: "level", EdgeTriggered: "edge", OneShot: "oneshot"}
	wait := map[WaitStrategy]string{WaitDefault: "default", WaitBlock: "block", WaitSpin: "spin", WaitRuntime: "runtime", WaitAdaptive: "adaptive"}
	disp := map[Dispatch]string{DispatchHandoff: "handoff", DispatchPool: "pool", DispatchInline: "inline", DispatchEach: "each"}
	bal := map[Balance]string{RoundRobin: "roundrobin", LeastConnections: "leastconn"}
	be := map[Backend]string{BackendDefault: "default", BackendEpoll: "epoll", BackendStd: "std", BackendUring: "uring"}
	return fmt.Sprintf("backend=%s,trigger=%s,wait=%s,spin=%d,pollers=%d,dispatch=%s,balance=%s,reuseport=%t,"+
		"maxinput=%d,maxoutput=%d,budget=%d,readtimeout=%s,writetimeout=%s,idletimeout=%s,maxconns=%d",
		be[cfg.Backend], trig[cfg.Trigger], wait[cfg.Wait], cfg.Spin, cfg.Pollers, disp[cfg.Dispatch], bal[cfg.Balance],
		cfg.ReusePort, cfg.MaxInput, cfg.MaxOutput, cfg.BufferBudget, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout, cfg.MaxConns)
}

// changedFields names the fields in which a and b differ.
func changedFields(a, b Config) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var names []string
	for i := range va.NumField() {
		if !va.Type().Field(i).IsExported() {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			names = append(names, va.Type().Field(i).Name)
		}
	}
	return names
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
// GOMAXPROCS pollers (at least one), one with a handler half of them
// (at least one), and
// UPOLL or an option still decides when given.
func TestDefaultPollers(t *testing.T) {
	t.Setenv(EnvVar, "")
	procs := runtime.GOMAXPROCS(0)
	if got, want := DefaultHandlerPollers(), max(1, procs/2); got != want {
		t.Errorf("DefaultHandlerPollers() = %d, want %d", got, want)
	}
	if got, want := DefaultAcceptPollers(), max(1, procs/4); got != want {
		t.Errorf("DefaultAcceptPollers() = %d, want %d", got, want)
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
	if n := count(echoHandler); n != max(1, procs/2) {
		t.Errorf("handler server: %d pollers, want %d", n, max(1, procs/2))
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
