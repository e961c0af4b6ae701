package gopool_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/upoll/upoll/gopool"
)

func Example() {
	p, err := gopool.New(gopool.WithCapacity(4))
	if err != nil {
		panic(err)
	}
	done := make(chan int)
	p.Go(func() { done <- 42 })
	fmt.Println(<-done)
	p.Close()
	fmt.Println(p.Go(func() {}))
	// Output:
	// 42
	// gopool: pool closed
}

func ExampleSerial() {
	p, err := gopool.New()
	if err != nil {
		panic(err)
	}
	defer p.Close()
	s := p.NewSerial()
	done := make(chan struct{})
	for i := range 3 {
		s.Submit(func() { fmt.Println("task", i) })
	}
	s.Submit(func() { close(done) })
	<-done
	// Output:
	// task 0
	// task 1
	// task 2
}

// With FailFast a full pool refuses work at once instead of waiting,
// and TryGo refuses under any policy: the caller decides what to do.
func ExampleWithPolicy() {
	p, err := gopool.New(gopool.WithCapacity(1), gopool.WithPolicy(gopool.FailFast))
	if err != nil {
		panic(err)
	}
	defer p.Close()
	hold, started := make(chan struct{}), make(chan struct{})
	p.Go(func() { close(started); <-hold }) // takes the only worker
	<-started
	fmt.Println(p.Go(func() {}))
	fmt.Println(errors.Is(p.TryGo(func() {}), gopool.ErrPoolOverload))
	close(hold)
	// Output:
	// gopool: pool overloaded
	// true
}

// A Pool bounds how many tasks run at once; Release stops taking tasks
// and waits for the ones already submitted.
func ExamplePool() {
	p, err := gopool.New(gopool.WithCapacity(2))
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	sum := 0
	for i := 1; i <= 10; i++ {
		if err := p.Go(func() { // waits for a free worker (the Block policy)
			mu.Lock()
			sum += i
			mu.Unlock()
		}); err != nil {
			panic(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Release(ctx); err != nil {
		panic(err)
	}
	fmt.Println("sum:", sum)
	fmt.Println("after Release:", p.Go(func() {}))
	// Output:
	// sum: 55
	// after Release: gopool: pool closed
}

// Err tells whether a pool takes tasks, as a configuration check does
// before it hands the pool to a server.
func ExamplePool_Err() {
	p, err := gopool.New()
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Err())
	p.Close()
	fmt.Println(p.Err())
	var zero gopool.Pool
	fmt.Println(errors.Is(zero.Err(), gopool.ErrPoolClosed), zero.Err())
	// Output:
	// <nil>
	// gopool: pool closed
	// true gopool: Pool not made by New
}
