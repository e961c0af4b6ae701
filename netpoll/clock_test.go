package netpoll

import (
	"math"
	"testing"
	"time"
)

// TestClockConversions: the package's clock (clock.go) keeps 0 for "no
// deadline", maps every time before its start to 1 and every time past
// its end to math.MaxInt64, and converts a deadline with or without a
// monotonic reading to the same instant.
func TestClockConversions(t *testing.T) {
	if got := deadlineNs(time.Time{}); got != 0 {
		t.Errorf("deadlineNs(zero time) = %d, want 0 (none)", got)
	}
	for _, past := range []time.Time{time.Unix(0, 1), time.Unix(-1e10, 0), clockBase.Add(-time.Hour), time.Time{}.Add(1)} {
		if got := instantNs(past); got != 1 {
			t.Errorf("instantNs(%v) = %d, want 1 (in the past)", past, got)
		}
	}
	for _, far := range []time.Time{time.Now().Add(math.MaxInt64), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if got := instantNs(far); got != math.MaxInt64 {
			t.Errorf("instantNs(%v) = %d, want math.MaxInt64", far, got)
		}
	}
	if now := nowNs(); now <= 1 {
		t.Errorf("nowNs() = %d: not after the instant the past converts to", now)
	}
	const d = 5 * time.Second
	before := nowNs()
	dl := time.Now().Add(d)
	after := nowNs()
	mono, wall := instantNs(dl), instantNs(dl.Round(0)) // Round(0) drops the monotonic reading
	if mono < before+int64(d) || mono > after+int64(d) {
		t.Errorf("instantNs(now+%v) = %d, want within [%d, %d]", d, mono, before+int64(d), after+int64(d))
	}
	// The wall and monotonic clocks of this process may drift apart a
	// little while the test runs, never by seconds.
	if diff := time.Duration(wall - mono); diff < -time.Second || diff > time.Second {
		t.Errorf("a deadline without its monotonic reading converts %v away from it", diff)
	}
	for _, ns := range []int64{0, 1, before, mono, math.MaxInt64} {
		back := timeOfNs(ns)
		switch {
		case ns == 0:
			if !back.IsZero() {
				t.Errorf("timeOfNs(0) = %v, want the zero time", back)
			}
		case instantNs(back) != ns:
			t.Errorf("instantNs(timeOfNs(%d)) = %d", ns, instantNs(back))
		}
	}
}
