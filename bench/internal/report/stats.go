package report

import (
	"fmt"
	"slices"
	"strings"
)

// Spread is a median with the lowest and highest value it was taken
// from: over the rounds of one target, or over the per-round ratios of two.
type Spread struct {
	Median float64 `json:"median"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
	N      int     `json:"n"`
}

// spreadOf summarizes xs (nil or empty: the zero Spread).
func spreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	return Spread{Median: Median(xs), Lo: slices.Min(xs), Hi: slices.Max(xs), N: len(xs)}
}

// Straddles reports whether some rounds of the spread meet the goal
// "figure op v" (op "<=" or ">=") and others do not: then no side of v
// holds every run. A round exactly at v meets the goal, so it counts on
// that side only.
func (s Spread) Straddles(v float64, op string) bool {
	if op == ">=" {
		return s.N > 1 && s.Lo < v && v <= s.Hi
	}
	return s.N > 1 && s.Lo <= v && v < s.Hi
}

// Overlaps reports whether the ranges of s and o share a point.
func (s Spread) Overlaps(o Spread) bool { return s.Lo <= o.Hi && o.Lo <= s.Hi }

// okRuns are the runs of r that verified and recorded no error.
func (r *Result) okRuns() []Run {
	var ok []Run
	if r == nil {
		return nil
	}
	for _, run := range r.Runs {
		if run.Verified && run.Error == "" {
			ok = append(ok, run)
		}
	}
	return ok
}

// allSamples returns f of each sound run of r, zeros included.
func (r *Result) allSamples(f func(Metrics) float64) []float64 {
	var xs []float64
	for _, run := range r.okRuns() {
		xs = append(xs, f(run.Metrics))
	}
	return xs
}

// samples returns f of each sound run of r that measured it (f > 0).
func (r *Result) samples(f func(Metrics) float64) []float64 {
	return slices.DeleteFunc(r.allSamples(f), func(v float64) bool { return !(v > 0) })
}

// counterSamples returns f of each sound run of r whose upoll counters
// were read (some of them above 0): among those a zero is a reading,
// as io_uring makes no read call where input arrives through the ring.
func (r *Result) counterSamples(f func(Metrics) float64) []float64 {
	var xs []float64
	for _, run := range r.okRuns() {
		if upollCalls(run.Metrics) > 0 {
			xs = append(xs, f(run.Metrics))
		}
	}
	return xs
}

// rwSamples returns a kernel read/write count of each sound run of r
// that measured it: a run that says it read the counts (counted) gives
// its figure, zero included; one that does not (an older report) gives
// it only when above 0.
func (r *Result) rwSamples(f func(Run) (v float64, counted bool)) []float64 {
	var xs []float64
	for _, run := range r.okRuns() {
		if v, counted := f(run); counted || v > 0 {
			xs = append(xs, v)
		}
	}
	return xs
}

// rwCounted reports whether some sound run of r read the kernel's
// counts that f picks: then a median of 0 is a count.
func (r *Result) rwCounted(f func(Run) (float64, bool)) bool {
	for _, run := range r.okRuns() {
		if _, counted := f(run); counted {
			return true
		}
	}
	return false
}

// upollCalls is what a upoll server's own counters counted per
// operation: its reads, writes and waits together.
func upollCalls(m Metrics) float64 { return m.UpollReadsPerOp + m.UpollWritesPerOp + m.UpollWaitsPerOp }

// SpreadOf is f's median over r's sound runs with its lowest and highest.
func (r *Result) SpreadOf(f func(Metrics) float64) Spread { return spreadOf(r.samples(f)) }

// roundRatios returns f(a)/f(b) for every round in which both a and b have
// a sound run that measured f.
func roundRatios(a, b *Result, f func(Metrics) float64) []float64 {
	if a == nil || b == nil {
		return nil
	}
	byRound := map[int]float64{}
	for _, r := range b.okRuns() {
		if v := f(r.Metrics); v > 0 {
			byRound[r.Round] = v
		}
	}
	var xs []float64
	for _, r := range a.okRuns() {
		if v, ok := byRound[r.Round]; ok && f(r.Metrics) > 0 {
			xs = append(xs, f(r.Metrics)/v)
		}
	}
	return xs
}

// RatioSpread is the median of the per-round ratios f(a)/f(b) with the
// lowest and highest of them.
func RatioSpread(a, b *Result, f func(Metrics) float64) Spread {
	return spreadOf(roundRatios(a, b, f))
}

// ratioCell writes a ratio with its spread: "0.96× (0.90–1.02)", also when
// the rounds agree ("0.50× (0.50–0.50)"); a single round has no spread.
func ratioCell(s Spread) string { return ratioCellPrec(s, 2) }

// ratioCellPrec is ratioCell with the median written to prec decimals.
func ratioCellPrec(s Spread, prec int) string {
	if s.N == 0 || s.Median <= 0 {
		return "-"
	}
	if s.N == 1 {
		return fmt.Sprintf("%.*f×", prec, s.Median)
	}
	return fmt.Sprintf("%.*f× (%.2f–%.2f)", prec, s.Median, s.Lo, s.Hi)
}

// goalPrec is how many decimals (2 to 4) a goal's median needs so that
// it does not print as its threshold unless it is the threshold: 0.7504
// against "<= 0.75" is not met, and "0.75" beside "not met" would read
// as a contradiction.
func goalPrec(v, threshold float64) int {
	for prec := 2; prec < 4; prec++ {
		if v == threshold || fmt.Sprintf("%.*f", prec, v) != fmt.Sprintf("%.*f", prec, threshold) {
			return prec
		}
	}
	return 4
}

// figureCell writes a figure with its spread in the unit format gives.
func figureCell(s Spread, format func(float64) string) string {
	if s.N == 0 || s.Median <= 0 {
		return "-"
	}
	if s.N == 1 {
		return format(s.Median)
	}
	lo, hi := format(s.Lo), format(s.Hi)
	if unit := strings.LastIndexByte(lo, ' '); unit > 0 && strings.HasSuffix(hi, lo[unit:]) {
		lo = lo[:unit] // "350–410 B", not "350 B–410 B"
	}
	return fmt.Sprintf("%s (%s–%s)", format(s.Median), lo, hi)
}
