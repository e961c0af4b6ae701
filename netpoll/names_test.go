package netpoll

import (
	"errors"
	"strings"
	"testing"
)

// enum is what every enum type of the package implements.
type enum interface {
	~int
	String() string
	MarshalText() ([]byte, error)
}

func TestEnumNames(t *testing.T) {
	t.Run("Trigger", func(t *testing.T) { testEnumNames(t, &triggerNames) })
	t.Run("WaitStrategy", func(t *testing.T) { testEnumNames(t, &waitNames) })
	t.Run("Dispatch", func(t *testing.T) { testEnumNames(t, &dispatchNames) })
	t.Run("Balance", func(t *testing.T) { testEnumNames(t, &balanceNames) })
}

// testEnumNames checks one enum's table through its methods: for every
// value, String and MarshalText agree and UnmarshalText of that name (in
// any case) and of each alias gives the value back; no name is shared;
// unknown names are errors that wrap ErrBadConfig and name every value;
// a value without a name does not marshal.
func testEnumNames[T enum, P interface {
	*T
	UnmarshalText([]byte) error
}](t *testing.T, names *enumNames[T]) {
	parse := func(text string) (T, error) {
		var v T
		err := P(&v).UnmarshalText([]byte(text))
		return v, err
	}
	owner := map[string]T{}
	for _, r := range names.rows {
		s := r.v.String()
		if text, err := r.v.MarshalText(); err != nil || string(text) != s {
			t.Errorf("%s: MarshalText = %q, %v; String = %q", s, text, err, s)
		}
		for _, n := range append([]string{s, strings.ToUpper(s)}, r.names...) {
			if got, err := parse(n); err != nil || got != r.v {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v", n, got, err, r.v)
			}
		}
		for _, n := range r.names {
			if o, dup := owner[n]; dup {
				t.Errorf("name %q names both %d and %d", n, o, r.v)
			}
			owner[n] = r.v
		}
	}

	bad := []string{"", "sideways", " " + names.rows[0].names[0], names.rows[0].names[0] + "x"}
	// Unicode letters that strings.EqualFold folds onto ASCII ones (a
	// long s onto s, the Kelvin sign onto k) do not spell a name.
	unicodeFolds := strings.NewReplacer("s", "\u017f", "k", "\u212a")
	for _, r := range names.rows {
		for _, n := range r.names {
			if u := unicodeFolds.Replace(n); u != n {
				bad = append(bad, u)
			}
		}
	}
	for _, text := range bad {
		_, err := parse(text)
		if err == nil {
			t.Errorf("UnmarshalText(%q): no error", text)
			continue
		}
		if !errors.Is(err, ErrBadConfig) {
			t.Errorf("UnmarshalText(%q): %v does not wrap ErrBadConfig", text, err)
		}
		for _, r := range names.rows {
			if !strings.Contains(err.Error(), r.v.String()) {
				t.Errorf("UnmarshalText(%q): %q does not name %q", text, err, r.v)
			}
		}
	}

	unnamed := T(len(names.rows) + 40)
	if text, err := unnamed.MarshalText(); err == nil || !errors.Is(err, ErrBadConfig) {
		t.Errorf("MarshalText(%d) = %q, %v; want an error wrapping ErrBadConfig", unnamed, text, err)
	}
	if s, want := unnamed.String(), names.typ+"("; !strings.HasPrefix(s, want) {
		t.Errorf("String of %d = %q, want prefix %q", int(unnamed), s, want)
	}
}
