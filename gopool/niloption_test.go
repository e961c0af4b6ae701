package gopool

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestNewNilOption: a nil Option (an option built conditionally and left
// unset) stands for no option, as in netpoll; New must not panic on it
// and the options beside it still apply.
func TestNewNilOption(t *testing.T) {
	checkNoLeak(t)
	for _, c := range []struct {
		name     string
		opts     []Option
		capacity int
	}{
		{"New(nil)", []Option{nil}, DefaultCapacity},
		{"New(nil, WithCapacity(1), nil)", []Option{nil, WithCapacity(1), nil}, 1},
	} {
		var p *Pool
		panicked, err := catch(func() (err error) {
			p, err = New(c.opts...)
			return err
		})
		if panicked != nil {
			t.Errorf("%s panicked: %v", c.name, panicked)
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := p.Stats().Capacity; got != c.capacity {
			t.Errorf("%s: capacity %d, want %d", c.name, got, c.capacity)
		}
		done := make(chan struct{})
		if err := p.Go(func() { close(done) }); err != nil {
			t.Errorf("%s: Go: %v", c.name, err)
		} else {
			recv(t, done, c.name+"'s task")
		}
		if err := p.Close(); err != nil {
			t.Errorf("%s: Close: %v", c.name, err)
		}
	}
}

// TestNilPool: a nil *Pool or *Serial (a pointer field left unset) is
// treated as the zero value: its methods refuse with an error matching
// ErrPoolClosed and do not panic or hang.
func TestNilPool(t *testing.T) {
	checkNoLeak(t)
	var p *Pool
	var s *Serial
	calls := []struct {
		name string
		f    func() error
	}{
		{"Pool.Go", func() error { return p.Go(func() {}) }},
		{"Pool.TryGo", func() error { return p.TryGo(func() {}) }},
		{"Pool.NewSerial.Submit", func() error { return p.NewSerial().Submit(func() {}) }},
		{"Serial.Submit", func() error { return s.Submit(func() {}) }},
		{"Pool.Release", func() error { return p.Release(context.Background()) }},
		{"Pool.Close", func() error { return p.Close() }},
	}
	for _, c := range calls {
		done := make(chan struct{})
		var panicked any
		var err error
		go func() {
			defer close(done)
			panicked, err = catch(c.f)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s on nil hangs", c.name)
		}
		if panicked != nil {
			t.Errorf("%s on nil panicked: %v", c.name, panicked)
			continue
		}
		if !errors.Is(err, ErrPoolClosed) {
			t.Errorf("%s on nil = %v, want an error wrapping ErrPoolClosed", c.name, err)
		}
	}
	panicked, _ := catch(func() error {
		if st := p.Stats(); st != (Stats{}) {
			t.Errorf("nil Pool's Stats = %+v, want zero", st)
		}
		return nil
	})
	if panicked != nil {
		t.Errorf("Stats on nil panicked: %v", panicked)
	}
}
