package gopool

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestExpiryBounded: New refuses an expiry below MinExpiry, naming it,
// and takes MinExpiry itself; an idle pool with that expiry costs the
// process little CPU (an expiry of 1 µs cost about 0.8 of a core).
func TestExpiryBounded(t *testing.T) {
	checkNoLeak(t)
	for _, d := range []time.Duration{time.Nanosecond, time.Microsecond, MinExpiry - 1} {
		p, err := New(WithExpiry(d))
		if err == nil {
			p.Release(t.Context())
			t.Errorf("New(WithExpiry(%v)) succeeded, want an error below MinExpiry", d)
		} else if !strings.Contains(err.Error(), "MinExpiry") {
			t.Errorf("New(WithExpiry(%v)): %q does not name MinExpiry", d, err)
		}
	}
	p := newPool(t, WithExpiry(MinExpiry))
	if err := p.Go(func() {}); err != nil {
		t.Fatal(err)
	}
	const window = 200 * time.Millisecond
	c0, err := testutil.ProcCPU(os.Getpid())
	if err != nil {
		t.Skip(err)
	}
	time.Sleep(window)
	c1, _ := testutil.ProcCPU(os.Getpid())
	t.Logf("process CPU over %v with an idle pool (expiry %v): %v", window, MinExpiry, c1-c0)
	if c1-c0 > window/5 {
		t.Errorf("process CPU %v over %v with an idle pool, want under a fifth", c1-c0, window)
	}
}
