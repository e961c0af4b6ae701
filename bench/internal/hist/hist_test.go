package hist

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQuantileUniform(t *testing.T) {
	h := New()
	for v := int64(1); v <= 100000; v++ {
		h.Record(v * 1000) // 1 µs .. 100 ms
	}
	for _, tc := range []struct {
		q    float64
		want int64
	}{{0.5, 50_000_000}, {0.99, 99_000_000}, {0.999, 99_900_000}, {1, 100_000_000}} {
		got := h.Quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*(1+1.0/subCount) {
			t.Errorf("Quantile(%v) = %d, want within [%d, +3%%]", tc.q, got, tc.want)
		}
	}
	if h.Count() != 100000 || h.Min() != 1000 || h.Max() != 100_000_000 {
		t.Fatalf("count/min/max = %d/%d/%d", h.Count(), h.Min(), h.Max())
	}
	if m := h.Mean(); m < 50_000_000 || m > 50_001_000 {
		t.Fatalf("mean = %v", m)
	}
}

func TestQuantileMatchesSortedSample(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 20000)
	h := New()
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * 200_000) // long-tailed, like latencies
		h.Record(vals[i])
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := h.Quantile(q)
		if got < exact || float64(got) > float64(exact)*(1+1.0/subCount)+1 {
			t.Errorf("q=%v: got %d, exact %d", q, got, exact)
		}
	}
}

func TestSmallValuesExactAndMerge(t *testing.T) {
	a, b := New(), New()
	for v := int64(0); v < subCount; v++ {
		a.Record(v)
	}
	b.Record(-5) // clamps to 0
	b.Record(1 << 50)
	a.Merge(b)
	if a.Count() != subCount+2 {
		t.Fatalf("count = %d", a.Count())
	}
	if got := a.Quantile(0.5); got != 15 { // 17th of 0,0,1..31,huge
		t.Fatalf("median = %d, want 15", got)
	}
	if a.Quantile(1) != 1<<50 {
		t.Fatalf("max quantile = %d", a.Quantile(1))
	}
	if New().Quantile(0.5) != 0 {
		t.Fatal("empty histogram quantile not 0")
	}
}

func TestBucketBoundsMonotonic(t *testing.T) {
	prev := int64(-1)
	for i := 0; i < len(Histogram{}.counts)-1; i++ {
		u := upper(i)
		if u <= prev {
			t.Fatalf("upper(%d)=%d not above upper(%d)=%d", i, u, i-1, prev)
		}
		if index(u) != i || index(prev+1) != i {
			t.Fatalf("bucket %d: index(%d)=%d index(%d)=%d", i, u, index(u), prev+1, index(prev+1))
		}
		prev = u
	}
}
