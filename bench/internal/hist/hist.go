// Package hist is a small log-linear latency histogram.
//
// Values (nanoseconds) are grouped by their power of two, and each power of two
// is split into 32 linear sub-buckets, so a recorded value is off by at most
// 1/32 (about 3%) of itself. A histogram is about 10 KiB, records without
// allocating, and merges by adding counts, so every load-generating goroutine
// keeps its own and the results are merged once at the end.
package hist

import "math/bits"

const (
	subBits  = 5
	subCount = 1 << subBits // linear sub-buckets per power of two
	maxExp   = 44           // 45 bucket rows: values below 2^49 ns (about 6.5 days); larger ones count in the last bucket
)

// Histogram counts values in log-linear buckets. The zero value is ready to use.
// It is not safe for concurrent use.
type Histogram struct {
	counts [(maxExp + 1) * subCount]uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

// New returns an empty histogram.
func New() *Histogram { return &Histogram{} }

// index maps v to its bucket. Values below subCount get exact buckets.
func index(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	exp := bits.Len64(uint64(v)) - 1 // v in [2^exp, 2^(exp+1))
	shift := exp - subBits
	sub := int(uint64(v)>>uint(shift)) - subCount // 0..subCount-1
	i := (shift+1)*subCount + sub
	if i >= len(Histogram{}.counts) {
		return len(Histogram{}.counts) - 1
	}
	return i
}

// upper returns the largest value that falls into bucket i; percentiles
// report it so that they never understate a latency.
func upper(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := i/subCount - 1
	sub := i%subCount + subCount
	return (int64(sub+1) << uint(shift)) - 1
}

// Record adds one value (negative values count as 0).
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[index(v)]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds o's counts into h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	if o.max > h.max {
		h.max = o.max
	}
	h.total += o.total
	h.sum += o.sum
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest recorded value.
func (h *Histogram) Max() int64 { return h.max }

// Min returns the smallest recorded value.
func (h *Histogram) Min() int64 { return h.min }

// Mean returns the arithmetic mean of the recorded values.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Quantile returns the value at quantile q (0 < q <= 1): the upper bound of
// the bucket holding the ceil(q*count)-th smallest value, clamped to the
// recorded maximum. It returns 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	if rank > h.total {
		rank = h.total
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := upper(i)
			if v > h.max || i == len(h.counts)-1 {
				v = h.max
			}
			if v < h.min {
				v = h.min
			}
			return v
		}
	}
	return h.max
}
