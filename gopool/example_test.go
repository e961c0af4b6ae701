package gopool_test

import (
	"errors"
	"fmt"

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
