package gopool

import "sync"

// Serial runs its tasks one at a time, in the order they were submitted,
// on the workers of its Pool. Tasks of different Serials run in parallel.
// One connection is one Serial: the poller submits each readiness to it and
// the handler never sees its input reordered or runs twice at once.
//
// A Serial with nothing queued holds no goroutine, only its (small, reused)
// queue. When a task is submitted to an idle Serial it takes one worker,
// which then runs every task queued on the Serial, including those
// submitted while it runs, and gives the worker back when the queue is
// empty. So a task submitted to a Serial that is running never needs a
// second worker, and a task may submit to its own Serial without any risk
// of deadlock (but it must not wait for that later task: it runs only after
// the current one returns).
//
// The queue is not bounded: the submitter (for the poller, its per
// connection input limit) provides backpressure.
//
// Make a Serial with Pool.NewSerial: the zero Serial, and a nil *Serial,
// has no pool, and Submit returns an error that matches ErrPoolClosed.
type Serial struct {
	p *Pool

	mu      sync.Mutex
	running bool     // a worker (or a submitter, inline) is draining
	buf     []func() // ring; len(buf) is a power of two or zero
	head    int
	n       int
}

// serialShrinkCap is the queue size above which an emptied queue gives its
// buffer back, so a burst does not pin memory to an idle connection.
const serialShrinkCap = 64

// NewSerial returns a Serial that runs its tasks on p. On a Pool not
// made by New (the zero Pool, a nil *Pool) it returns a Serial whose
// Submit fails as the pool's Go does.
func (p *Pool) NewSerial() *Serial {
	return &Serial{p: p}
}

// Submit queues task to run after every task submitted to s before it.
// It fails with ErrPoolClosed once the pool is closed, and with
// ErrPoolOverload (FailFast) when s is idle and the pool is full. A
// running Serial accepts tasks without needing a worker, so the policy
// applies only to an idle one.
//
// Submitting the same func value again allocates nothing once the queue
// has grown to its working size.
func (s *Serial) Submit(task func()) error {
	if task == nil {
		return ErrNilTask
	}
	if s == nil || s.p == nil {
		return errZeroPool // a nil or zero Serial, or one of a nil Pool
	}
	p := s.p
	s.mu.Lock()
	if p.closed.Load() {
		s.mu.Unlock()
		return ErrPoolClosed
	}
	if s.running {
		s.push(task)
		s.mu.Unlock()
		return nil
	}
	ok, err := p.take()
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if !ok {
		// Waiting (or running inline) while holding s.mu would stall
		// every other submitter of s, and an inline drain would take
		// s.mu again.
		s.mu.Unlock()
		return s.submitSlow(task)
	}
	s.push(task)
	s.running = true
	s.mu.Unlock()
	s.start()
	return nil
}

// submitSlow is Submit for an idle Serial when the pool is full.
func (s *Serial) submitSlow(task func()) error {
	p := s.p
	inline, err := p.acquire()
	if err != nil {
		return err
	}
	if inline {
		// Counted before task is queued: once queued it is accepted,
		// and Release must wait for it.
		if err := p.enterInline(); err != nil {
			return err
		}
		defer p.exitInline()
	}
	s.mu.Lock()
	s.push(task)
	if s.running {
		// Another submitter started s while this one waited.
		s.mu.Unlock()
		if !inline {
			p.put()
		}
		return nil
	}
	s.running = true
	s.mu.Unlock()
	if inline {
		runJob(p, s)
		return nil
	}
	s.start()
	return nil
}

// start hands s, holding a token, to a worker.
func (s *Serial) start() {
	if err := s.p.workers.Invoke(s); err != nil {
		// ants is closed only after Release gave up waiting. The queued
		// tasks were accepted, so they run here rather than vanish.
		defer s.p.put()
		runJob(s.p, s)
	}
}

// drain runs queued tasks until the queue is empty.
func (s *Serial) drain() {
	for {
		s.mu.Lock()
		if s.n == 0 {
			s.running = false
			if len(s.buf) > serialShrinkCap {
				s.buf = nil
				s.head = 0
			}
			s.mu.Unlock()
			return
		}
		task := s.buf[s.head]
		s.buf[s.head] = nil
		s.head = (s.head + 1) & (len(s.buf) - 1)
		s.n--
		s.mu.Unlock()
		s.p.call(task)
	}
}

// push appends task to the ring, doubling it when full. s.mu is held.
func (s *Serial) push(task func()) {
	if s.n == len(s.buf) {
		s.grow()
	}
	s.buf[(s.head+s.n)&(len(s.buf)-1)] = task
	s.n++
}

func (s *Serial) grow() {
	size := 2 * len(s.buf)
	if size == 0 {
		size = 4
	}
	buf := make([]func(), size)
	for i := 0; i < s.n; i++ {
		buf[i] = s.buf[(s.head+i)&(len(s.buf)-1)]
	}
	s.buf = buf
	s.head = 0
}
