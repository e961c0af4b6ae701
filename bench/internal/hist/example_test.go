package hist_test

import (
	"fmt"
	"time"

	"github.com/upoll/upoll/bench/internal/hist"
)

func Example() {
	h := hist.New()
	for i := 1; i <= 1000; i++ {
		h.Record(int64(time.Duration(i) * time.Microsecond))
	}
	// Percentiles are bucket upper bounds: never below the exact value,
	// at most 1/32 above it.
	fmt.Println(time.Duration(h.Quantile(0.5)), time.Duration(h.Quantile(0.99)), time.Duration(h.Max()))
	// Output: 507.903µs 999.423µs 1ms
}
