package gopool_test

import (
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
