package netpoll

import (
	"errors"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/gopool"
)

// TestDefaultsTable checks the one table of defaults against the
// constants and functions the docs name, DefaultConfig against it, and
// that a zero Config resolves to it in both modes.
func TestDefaultsTable(t *testing.T) {
	t.Setenv(EnvVar, "")
	want := Config{
		Backend:      nativeBackend,
		Pollers:      DefaultHandlerPollers(),
		Trigger:      LevelTriggered,
		Wait:         WaitAdaptive,
		Spin:         DefaultSpin,
		Dispatch:     DispatchHandoff,
		Balance:      RoundRobin,
		MaxInput:     DefaultMaxInput,
		MaxOutput:    DefaultMaxOutput,
		BufferBudget: DefaultBufferBudget(),
	}
	if got := DefaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultConfig() differs from the documented defaults in %v", changedFields(got, want))
	}
	if got := defaults(true); !reflect.DeepEqual(got, DefaultConfig()) {
		t.Errorf("defaults(true) differs from DefaultConfig() in %v", changedFields(got, DefaultConfig()))
	}
	accept := want
	accept.Pollers, accept.MaxInput, accept.MaxOutput = DefaultAcceptPollers(), DefaultReadAhead, DefaultWriteBehind
	accept.Wait = WaitRuntime
	if got := defaults(false); !reflect.DeepEqual(got, accept) {
		t.Errorf("defaults(false) differs from the documented accept-mode defaults in %v", changedFields(got, accept))
	}

	// The default of every enum is its zero value, so that choosing it
	// explicitly and leaving the field zero mean the same; Wait's
	// default differs by mode, and its zero value names it (WaitDefault).
	var zero Config
	if d := defaults(true); d.Trigger != zero.Trigger || d.Dispatch != zero.Dispatch || d.Balance != zero.Balance {
		t.Errorf("an enum's default is not its zero value: %+v", d)
	}
	if zero.Wait != WaitDefault || zero.Backend != BackendDefault {
		t.Errorf("zero Wait %v, Backend %v: want WaitDefault and BackendDefault", zero.Wait, zero.Backend)
	}

	for _, handler := range []bool{true, false} {
		var c Config
		if err := c.resolve(handler, 0); err != nil {
			t.Fatalf("resolve of a zero Config (handler %v): %v", handler, err)
		}
		if c.Pool != gopool.Default() {
			t.Errorf("handler %v: Pool resolved to %p, want gopool.Default()", handler, c.Pool)
		}
		c.Pool = nil
		if d := defaults(handler); !reflect.DeepEqual(c, d) {
			t.Errorf("handler %v: a zero Config resolved differs from the defaults in %v", handler, changedFields(c, d))
		}
	}

	// What NewServer runs with, with nothing given, is the table.
	for _, h := range []Handler{echoHandler, nil} {
		s, err := NewServer(h)
		if err != nil {
			t.Fatal(err)
		}
		got := s.Config()
		s.Close()
		got.Pool = nil
		if d := defaults(h != nil); !reflect.DeepEqual(got, d) {
			t.Errorf("NewServer(handler %v).Config() differs from the defaults in %v", h != nil, changedFields(got, d))
		}
	}
}

// TestConfigString checks that String writes the keys UPOLL reads, in
// envKeys' order, shows a zero field as its default, and reads back as
// the same configuration.
func TestConfigString(t *testing.T) {
	s := DefaultConfig().String()
	var keys []string
	for entry := range strings.SplitSeq(s, ",") {
		k, _, _ := strings.Cut(entry, "=")
		keys = append(keys, k)
	}
	if !slices.Equal(keys, envKeys[:]) {
		t.Errorf("String() keys %v, want %v", keys, envKeys)
	}
	if z := (Config{}).String(); z != s {
		t.Errorf("Config{}.String() = %q, want the defaults %q", z, s)
	}
	opts, err := ParseEnv(s)
	if err != nil {
		t.Fatalf("String() of the defaults does not parse as UPOLL: %v", err)
	}
	var back Config
	for _, o := range opts {
		o(&back)
	}
	back.set = 0
	if !reflect.DeepEqual(back, DefaultConfig()) {
		t.Errorf("String() of the defaults read back as UPOLL: %+v\nwant %+v", back, DefaultConfig())
	}
	std := Config{Backend: BackendStd}.String()
	for _, k := range envKeys[1:8] {
		if !strings.Contains(std, k+"=n/a") {
			t.Errorf("std String() %q: %s not n/a", std, k)
		}
	}
}

// TestExplicitOptionBeatsEnv checks the precedence EnvVar documents:
// UPOLL changes what the code left to its defaults, and an option in
// code wins over UPOLL, also when it asks for the default.
func TestExplicitOptionBeatsEnv(t *testing.T) {
	t.Setenv(EnvVar, "trigger=edge,wait=block,pollers=5,spin=7,dispatch=inline,balance=lc,reuseport=true,"+
		"maxinput=64k,maxoutput=32k,budget=16m,readtimeout=1s,writetimeout=2s,idletimeout=1m")
	env, err := buildConfig(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if env.Backend == BackendStd {
		t.Skip("backend std: the poller switches UPOLL sets here do not apply")
	}
	wantEnv := Config{Backend: nativeBackend, Trigger: EdgeTriggered, Wait: WaitBlock, Pollers: 5, Spin: 7,
		Dispatch: DispatchInline, Balance: LeastConnections, ReusePort: true, MaxInput: 64 << 10, MaxOutput: 32 << 10,
		BufferBudget: 16 << 20, ReadTimeout: time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: time.Minute,
		Pool: gopool.Default()}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("UPOLL alone: %v differ from what it says (%v)", changedFields(env, wantEnv), env)
	}

	asDefault := []Option{WithTrigger(LevelTriggered), WithWait(WaitDefault), WithPollers(0), WithSpin(0),
		WithDispatch(DispatchHandoff), WithBalance(RoundRobin), WithReusePort(false), WithMaxInput(0),
		WithMaxOutput(0), WithBufferBudget(0), WithReadTimeout(0), WithWriteTimeout(0), WithIdleTimeout(0)}
	for _, handler := range []bool{true, false} {
		got, err := buildConfig(asDefault, handler)
		if err != nil {
			t.Fatal(err)
		}
		got.Pool, got.set = nil, 0
		if d := defaults(handler); !reflect.DeepEqual(got, d) {
			t.Errorf("handler %v, every option at its default under UPOLL: %v differ from the defaults (%v, want %v)",
				handler, changedFields(got, d), got, d)
		}
	}

	got, err := buildConfig([]Option{WithPollers(2), WithTrigger(OneShot), WithMaxInput(1000)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pollers != 2 || got.Trigger != OneShot || got.MaxInput != 1000 || got.Wait != WaitBlock || got.MaxOutput != 32<<10 {
		t.Errorf("options with UPOLL: %+v, want pollers, trigger and maxinput from code, the rest from UPOLL", got)
	}

	// The backend too: code asking for the default beats UPOLL's std.
	t.Setenv(EnvVar, "backend=std")
	got, err = buildConfig([]Option{WithBackend(BackendDefault)}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Backend != nativeBackend {
		t.Errorf("WithBackend(BackendDefault) under UPOLL=backend=std: backend %v, want %v", got.Backend, nativeBackend)
	}
}

// TestServerListen checks that Server.Listen opens the listener its
// server's options ask for, that Close closes it unserved, and that it
// refuses once the server is closing.
func TestServerListen(t *testing.T) {
	t.Setenv(EnvVar, "")
	s, err := NewServer(echoHandler, WithBackend(BackendStd))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	if ln.nl == nil {
		t.Error("a server on BackendStd opened a listener of another backend")
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	runEchoClients(t, ln.Addr().String(), 2, 2, 1024)
	s.Close()
	select {
	case err := <-served:
		if !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}

	s, err = NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err = s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	s.Close()
	select {
	case <-ln.closed:
	default:
		t.Error("Close left open a listener of Server.Listen that was never served")
	}
	if ln, err := s.Listen("tcp", "127.0.0.1:0"); !errors.Is(err, ErrServerClosed) {
		if ln != nil {
			ln.Close()
		}
		t.Errorf("Listen after Close: %v, want ErrServerClosed", err)
	}
}

// TestWrapListener serves a wrapped *net.TCPListener: WrapListener for
// the backend UPOLL selects, Server.WrapListener for the server's own,
// here BackendStd chosen in code, which WrapListener cannot know of.
// The wrapped listener and l close independently.
func TestWrapListener(t *testing.T) {
	serve := func(t *testing.T, s *Server, ln *Listener) {
		t.Helper()
		served := make(chan error, 1)
		go func() { served <- s.Serve(ln) }()
		runEchoClients(t, ln.Addr().String(), 2, 2, 1024)
		s.Close()
		select {
		case err := <-served:
			if !errors.Is(err, ErrServerClosed) {
				t.Errorf("Serve after Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return after Close")
		}
	}
	listenTCP := func(t *testing.T) *net.TCPListener {
		t.Helper()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		return l.(*net.TCPListener)
	}

	t.Run("package", func(t *testing.T) {
		l := listenTCP(t)
		ln, err := WrapListener(l)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewServer(echoHandler)
		if err != nil {
			ln.Close()
			t.Fatal(err)
		}
		serve(t, s, ln)
		ln.Close()
		// l is still open: it accepts a connection of its own.
		go func() {
			if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
				c.Close()
			}
		}()
		l.SetDeadline(time.Now().Add(5 * time.Second))
		c, err := l.Accept()
		if err != nil {
			t.Fatalf("l after the wrapped listener closed: %v", err)
		}
		c.Close()
	})

	t.Run("server", func(t *testing.T) {
		t.Setenv(EnvVar, "")
		s, err := NewServer(echoHandler, WithBackend(BackendStd))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := s.WrapListener(listenTCP(t))
		if err != nil {
			s.Close()
			t.Fatal(err)
		}
		if ln.nl == nil {
			s.Close()
			t.Fatal("Server.WrapListener of a BackendStd server made a listener of another backend")
		}
		serve(t, s, ln)
		if _, err := s.WrapListener(listenTCP(t)); !errors.Is(err, ErrServerClosed) {
			t.Errorf("WrapListener after Close: %v, want ErrServerClosed", err)
		}
	})
}
