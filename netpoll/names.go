package netpoll

import (
	"fmt"
	"strings"
)

// The names of the enums are written here once. String and MarshalText
// give a value's first name; UnmarshalText accepts any of its names,
// case-insensitively. The UPOLL parser, the examples' flags and the bench
// harness all read them through these methods, so a new value needs one
// row in its table below and nothing else.

var triggerNames = enumNames[Trigger]{typ: "Trigger", kind: "trigger", rows: []enumRow[Trigger]{
	{LevelTriggered, []string{"level", "lt"}},
	{EdgeTriggered, []string{"edge", "et"}},
	{OneShot, []string{"oneshot"}},
}}

var waitNames = enumNames[WaitStrategy]{typ: "WaitStrategy", kind: "wait strategy", rows: []enumRow[WaitStrategy]{
	{WaitDefault, []string{"default"}},
	{WaitBlock, []string{"block"}},
	{WaitSpin, []string{"spin"}},
	{WaitRuntime, []string{"runtime"}},
	{WaitAdaptive, []string{"adaptive"}},
}}

var dispatchNames = enumNames[Dispatch]{typ: "Dispatch", kind: "dispatch", rows: []enumRow[Dispatch]{
	{DispatchHandoff, []string{"handoff"}},
	{DispatchPool, []string{"pool"}},
	{DispatchInline, []string{"inline"}},
	{DispatchEach, []string{"each"}},
}}

var backendNames = enumNames[Backend]{typ: "Backend", kind: "backend", rows: []enumRow[Backend]{
	{BackendDefault, []string{"default"}},
	{BackendEpoll, []string{"epoll"}},
	{BackendStd, []string{"std"}},
	{BackendUring, []string{"uring", "io_uring"}},
}}

var balanceNames = enumNames[Balance]{typ: "Balance", kind: "balance", rows: []enumRow[Balance]{
	{RoundRobin, []string{"roundrobin", "rr"}},
	{LeastConnections, []string{"leastconn", "lc"}},
}}

// String returns the backend's name: "default", "epoll", "std" or "uring".
func (b Backend) String() string { return backendNames.name(b) }

// MarshalText returns the backend's name; an unknown value is an error.
func (b Backend) MarshalText() ([]byte, error) { return backendNames.marshal(b) }

// UnmarshalText sets the backend from its name, case-insensitively; an
// unknown name is an error wrapping ErrBadConfig.
func (b *Backend) UnmarshalText(text []byte) error { return backendNames.unmarshal(b, text) }

// String returns the trigger's name: "level", "edge" or "oneshot".
func (t Trigger) String() string { return triggerNames.name(t) }

// MarshalText implements encoding.TextMarshaler with String's name; it
// fails for a value that has none.
func (t Trigger) MarshalText() ([]byte, error) { return triggerNames.marshal(t) }

// UnmarshalText implements encoding.TextUnmarshaler. It accepts, in any
// case, level or lt, edge or et, and oneshot; any other text is an error
// wrapping ErrBadConfig that lists those names.
func (t *Trigger) UnmarshalText(text []byte) error { return triggerNames.unmarshal(t, text) }

// String returns the wait strategy's name: "block", "spin", "runtime"
// or "adaptive".
func (w WaitStrategy) String() string { return waitNames.name(w) }

// MarshalText implements encoding.TextMarshaler with String's name; it
// fails for a value that has none.
func (w WaitStrategy) MarshalText() ([]byte, error) { return waitNames.marshal(w) }

// UnmarshalText implements encoding.TextUnmarshaler. It accepts, in any
// case, block, spin, runtime and adaptive; any other text is an error wrapping
// ErrBadConfig that lists those names.
func (w *WaitStrategy) UnmarshalText(text []byte) error { return waitNames.unmarshal(w, text) }

// String returns the dispatch's name: "handoff", "pool", "inline" or
// "each".
func (d Dispatch) String() string { return dispatchNames.name(d) }

// MarshalText implements encoding.TextMarshaler with String's name; it
// fails for a value that has none.
func (d Dispatch) MarshalText() ([]byte, error) { return dispatchNames.marshal(d) }

// UnmarshalText implements encoding.TextUnmarshaler. It accepts, in any
// case, each name String returns; any other text is an error wrapping
// ErrBadConfig that lists them.
func (d *Dispatch) UnmarshalText(text []byte) error { return dispatchNames.unmarshal(d, text) }

// String returns the balance's name: "roundrobin" or "leastconn".
func (b Balance) String() string { return balanceNames.name(b) }

// MarshalText implements encoding.TextMarshaler with String's name; it
// fails for a value that has none.
func (b Balance) MarshalText() ([]byte, error) { return balanceNames.marshal(b) }

// UnmarshalText implements encoding.TextUnmarshaler. It accepts, in any
// case, roundrobin or rr, and leastconn or lc; any other text is an error
// wrapping ErrBadConfig that lists those names.
func (b *Balance) UnmarshalText(text []byte) error { return balanceNames.unmarshal(b, text) }

// enumNames is the name table of one enum type.
type enumNames[T ~int] struct {
	typ  string // the Go type, for String of a value without a name
	kind string // what the value selects, for errors
	rows []enumRow[T]
}

// enumRow is one value and its names, the one String returns first, all
// in lower case.
type enumRow[T ~int] struct {
	v     T
	names []string
}

func (e *enumNames[T]) name(v T) string {
	for _, r := range e.rows {
		if r.v == v {
			return r.names[0]
		}
	}
	return fmt.Sprintf("%s(%d)", e.typ, int(v))
}

func (e *enumNames[T]) marshal(v T) ([]byte, error) {
	for _, r := range e.rows {
		if r.v == v {
			return []byte(r.names[0]), nil
		}
	}
	return nil, fmt.Errorf("%w: unknown %s %d", ErrBadConfig, e.kind, int(v))
}

func (e *enumNames[T]) unmarshal(v *T, text []byte) error {
	s := string(text)
	lower := asciiLower(s)
	for _, r := range e.rows {
		for _, n := range r.names {
			if lower == n {
				*v = r.v
				return nil
			}
		}
	}
	return fmt.Errorf("%w: unknown %s %q: want %s", ErrBadConfig, e.kind, s, e.want())
}

// asciiLower returns s with its ASCII upper-case letters in lower case
// and every other byte as it is: the names are ASCII, and a
// configuration value is a name to type, not text to fold.
// strings.ToLower and strings.EqualFold map the Kelvin sign onto an
// ASCII k and EqualFold a long s onto s, so "bloc" ending in a Kelvin
// sign would select block, and "ſtd" std.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// want lists the names String returns: "level, edge or oneshot".
func (e *enumNames[T]) want() string {
	var b strings.Builder
	for i, r := range e.rows {
		switch {
		case i == 0:
		case i == len(e.rows)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(r.names[0])
	}
	return b.String()
}
