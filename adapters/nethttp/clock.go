package nethttp

import (
	"math"
	"time"
)

// The parking listener keeps srv's read deadline in an atomic word, as
// nanoseconds on the monotonic clock counted from clockBase (netpoll
// keeps its instants the same way, and Go's runtime its timers): a step
// of the system's wall clock moves no idle timeout. Readings start at
// clockStart, so that 0 can mean "no deadline" and 1 "in the past".

// clockBase is the origin of the adapter's clock, read once.
var clockBase = time.Now()

// clockStart is the clock's first reading (see netpoll's clock.go).
const clockStart = int64(time.Second)

// nowNs is the present on the adapter's clock (one monotonic read).
func nowNs() int64 { return int64(time.Since(clockBase)) + clockStart }

// deadlineNs converts a deadline to the adapter's clock: 0 for none,
// 1 for any time before the clock's start, math.MaxInt64 for one past
// its end.
func deadlineNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	d := t.Sub(clockBase) // saturates at the Duration's bounds
	switch {
	case int64(d) >= math.MaxInt64-clockStart:
		return math.MaxInt64
	case int64(d) <= -clockStart:
		return 1
	}
	return int64(d) + clockStart
}

// timeOfNs converts a reading of the adapter's clock (0: none) back to
// a deadline.
func timeOfNs(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return clockBase.Add(time.Duration(ns - clockStart))
}
