package gopool

import (
	"sync"
	"testing"

	"github.com/panjf2000/ants/v2"
)

var sink uint64

// shortTask stands for a handler that parses a small request: about 100 ns
// of work and no blocking.
//
//go:noinline
func shortTask() {
	x := uint64(1)
	for i := range 64 {
		x = x*31 + uint64(i)
	}
	if x == 0 {
		sink = x
	}
}

// BenchmarkSubmit submits b.N short tasks from one goroutine and waits for
// them all: the cost of handing a task over and running it.
func BenchmarkSubmit(b *testing.B) {
	var wg sync.WaitGroup
	task := func() { shortTask(); wg.Done() }

	b.Run("go", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			wg.Add(1)
			go task()
		}
		wg.Wait()
	})
	b.Run("ants", func(b *testing.B) {
		ap, err := ants.NewPool(DefaultCapacity, ants.WithExpiryDuration(DefaultExpiry))
		if err != nil {
			b.Fatal(err)
		}
		defer ap.Release()
		b.ReportAllocs()
		for range b.N {
			wg.Add(1)
			if err := ap.Submit(task); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	})
	b.Run("gopool", func(b *testing.B) {
		p, err := New()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.ReportAllocs()
		for range b.N {
			wg.Add(1)
			if err := p.Go(task); err != nil {
				b.Fatal(err)
			}
		}
		wg.Wait()
	})
}

// BenchmarkRoundTrip submits one short task and waits for it before the
// next: the latency of handing one readiness to an idle worker.
func BenchmarkRoundTrip(b *testing.B) {
	done := make(chan struct{}, 1)
	task := func() { shortTask(); done <- struct{}{} }
	b.Run("go", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			go task()
			<-done
		}
	})
	b.Run("ants", func(b *testing.B) {
		ap, err := ants.NewPool(DefaultCapacity, ants.WithExpiryDuration(DefaultExpiry))
		if err != nil {
			b.Fatal(err)
		}
		defer ap.Release()
		b.ReportAllocs()
		for range b.N {
			if err := ap.Submit(task); err != nil {
				b.Fatal(err)
			}
			<-done
		}
	})
	b.Run("gopool", func(b *testing.B) {
		p, err := New()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.ReportAllocs()
		for range b.N {
			if err := p.Go(task); err != nil {
				b.Fatal(err)
			}
			<-done
		}
	})
	b.Run("serial", func(b *testing.B) {
		p, err := New()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		s := p.NewSerial()
		b.ReportAllocs()
		for range b.N {
			if err := s.Submit(task); err != nil {
				b.Fatal(err)
			}
			<-done
		}
	})
}

// BenchmarkSubmitParallel is BenchmarkSubmit with GOMAXPROCS submitters.
func BenchmarkSubmitParallel(b *testing.B) {
	var wg sync.WaitGroup
	task := func() { shortTask(); wg.Done() }
	b.Run("go", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				wg.Add(1)
				go task()
			}
		})
		wg.Wait()
	})
	b.Run("ants", func(b *testing.B) {
		ap, err := ants.NewPool(DefaultCapacity, ants.WithExpiryDuration(DefaultExpiry))
		if err != nil {
			b.Fatal(err)
		}
		defer ap.Release()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				wg.Add(1)
				if err := ap.Submit(task); err != nil {
					b.Error(err)
					return
				}
			}
		})
		wg.Wait()
	})
	b.Run("gopool", func(b *testing.B) {
		p, err := New()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				wg.Add(1)
				if err := p.Go(task); err != nil {
					b.Error(err)
					return
				}
			}
		})
		wg.Wait()
	})
}

// BenchmarkSerial measures the ordered executor: b.N short tasks spread
// round-robin over a number of Serials (keys), from one goroutine,
// including the wait for the last one.
func BenchmarkSerial(b *testing.B) {
	for _, keys := range []int{1, 64, 1024} {
		b.Run("keys="+itoa(keys), func(b *testing.B) {
			p, err := New()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			serials := make([]*Serial, keys)
			for i := range serials {
				serials[i] = p.NewSerial()
			}
			var wg sync.WaitGroup
			task := func() { shortTask(); wg.Done() }
			b.ReportAllocs()
			i := 0
			for range b.N {
				wg.Add(1)
				if err := serials[i].Submit(task); err != nil {
					b.Fatal(err)
				}
				if i++; i == keys {
					i = 0
				}
			}
			wg.Wait()
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
