package hist

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestReview12QuantileAtBucketEdges: values at and beside every power of
// two (where a bucket's width doubles), recorded by several "connections"
// and merged as the load generator merges them, give for each quantile the
// upper bound of the bucket holding the ceil(q*n)-th smallest value,
// clamped to the largest value: never below the exact figure, never past
// its bucket. Merging an empty histogram, or into one, changes nothing.
func TestReview12QuantileAtBucketEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	var vals []int64
	for k := 0; k < 40; k++ {
		for _, d := range []int64{-1, 0, 1} {
			if v := int64(1)<<k + d; v >= 0 {
				vals = append(vals, v)
			}
		}
	}
	for range 2000 {
		vals = append(vals, int64(1)<<r.IntN(30)+int64(r.IntN(64))-32)
	}
	vals = slices.DeleteFunc(vals, func(v int64) bool { return v < 0 })
	parts := make([]*Histogram, 7)
	for i := range parts {
		parts[i] = New()
	}
	for i, v := range vals {
		parts[i%len(parts)].Record(v)
	}
	h := New()
	h.Merge(New())
	for _, p := range parts {
		h.Merge(p)
	}
	h.Merge(New())
	slices.Sort(vals)
	n := len(vals)
	if h.Count() != uint64(n) || h.Min() != vals[0] || h.Max() != vals[n-1] {
		t.Fatalf("merged count/min/max %d/%d/%d, want %d/%d/%d", h.Count(), h.Min(), h.Max(), n, vals[0], vals[n-1])
	}
	for _, q := range []float64{0.001, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(q * float64(n))
		if float64(rank) < q*float64(n) {
			rank++
		}
		exact := vals[max(rank, 1)-1]
		want := min(upper(index(exact)), h.Max())
		if got := h.Quantile(q); got != want || got < exact {
			t.Errorf("q=%v: %d, want %d (bucket of the exact %d)", q, got, want, exact)
		}
	}
	// One value per bucket, each its bucket's upper bound, so that
	// every quantile is exact: of 1000 values p50 is the 500th, p99 the
	// 990th and p999 the 999th, not the next one up.
	e := New()
	var tops []int64
	for i := range 1000 {
		tops = append(tops, upper(i))
		e.Record(upper(i))
	}
	for q, rank := range map[float64]int{0.001: 1, 0.5: 500, 0.99: 990, 0.999: 999, 1: 1000} {
		if got := e.Quantile(q); got != tops[rank-1] {
			t.Errorf("q=%v of one value per bucket: %d, want the %dth value %d", q, got, rank, tops[rank-1])
		}
	}
}
