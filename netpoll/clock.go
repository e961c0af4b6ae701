package netpoll

import (
	"math"
	"time"
)

// The package's clock. Every instant netpoll keeps as a number (a
// deadline, a connection's last I/O for its idle timeout, the start of
// a wait or of a pass, when a run was queued) is nanoseconds on the
// monotonic clock, counted from clockBase, as Go's runtime counts its
// timers and net.Conn's deadlines: a step of the system's wall clock
// (an NTP correction, a VM resumed or migrated, a date set by hand)
// moves none of them, so it neither times out every connection at once
// nor keeps a deadline from firing. A time.Time given to a deadline
// setter is converted with its own monotonic reading when it has one
// (time.Now().Add(d), as callers make them), and by its wall reading
// otherwise, which is how time.Until reads it for Go's net.Conn.
//
// Readings start at clockStart, not 0: 0 means "no deadline" wherever
// an instant is stored, and 1 is the instant every time before the
// clock's start converts to (in the past).

// clockBase is the origin of the package's clock, read once.
var clockBase = time.Now()

// clockStart is the first reading of the clock: one second, so that
// every present reading is well above 1 even where the monotonic clock
// ticks coarsely.
const clockStart = int64(time.Second)

// nowNs is the present on the package's clock. time.Since reads only
// the monotonic clock when its argument has a monotonic reading (as
// clockBase has): one clock read, where time.Now reads two.
func nowNs() int64 { return int64(time.Since(clockBase)) + clockStart }

// instantNs converts t to the package's clock: never 0 (the caller
// tests IsZero first where the zero time means "none"), 1 for any time
// before the clock's start, math.MaxInt64 for one past its end.
func instantNs(t time.Time) int64 {
	d := t.Sub(clockBase) // saturates at the Duration's bounds
	switch {
	case int64(d) >= math.MaxInt64-clockStart:
		return math.MaxInt64 // as far in the future as the clock goes
	case int64(d) <= -clockStart:
		return 1 // just "in the past"
	}
	return int64(d) + clockStart
}

// timeOfNs converts an instant of the package's clock (0: none) back
// to a time.Time, with a monotonic reading, for APIs that take one
// (Go's net.Conn deadlines under BackendStd).
func timeOfNs(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return clockBase.Add(time.Duration(ns - clockStart))
}
