package load

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// hello does one verified exchange on a fresh connection, so the server has
// certainly accepted it and served it once. seq is the sequence of id's
// messages: a churn worker keeps its own across its connections, so that
// an answer with an earlier connection's message (stale memory of a
// closed one) does not compare equal.
func (r *run) hello(c net.Conn, id int, seq *uint64) (int, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if r.cfg.Proto == HTTP {
		if _, err := c.Write(httpRequest); err != nil {
			return 0, err
		}
		return ReadResponse(bufio.NewReaderSize(c, 512), make([]byte, 64))
	}
	send, recv := make([]byte, r.cfg.Size), make([]byte, r.cfg.Size)
	pattern(send, id)
	message(send, r.cfg.Size, id, seq)
	return len(send), exchange(c, send, recv)
}

// idle opens Conns connections in two halves, so the parent can tell the
// cost of one more connection from the server's fixed costs: it opens the
// first half, exchanges once on each, reports "IDLE <half>", and waits for
// a line on in; then does the same for the second half ("IDLE <n>") and
// holds all of them (without any goroutine of its own) until another line
// arrives. The parent measures the server's memory at each report.
func (r *run) idle(in io.Reader, out io.Writer) error {
	lines := bufio.NewReader(in)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	half := r.cfg.Conns / 2
	for _, k := range []int{half, r.cfg.Conns - half} {
		more, err := r.openIdle(k, r.cfg.FirstID+len(conns))
		conns = append(conns, more...)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "IDLE %d\n", len(conns))
		lines.ReadString('\n')
	}
	return nil
}

// openIdle opens k connections and exchanges once on each; ids start at
// first. It returns the connections it opened, also on error.
func (r *run) openIdle(k, first int) ([]net.Conn, error) {
	conns, err := dialAll(r.cfg.Addr, k)
	if err != nil {
		return conns, err
	}
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, c := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var seq uint64
			n, err := r.hello(c, first+i, &seq)
			if err != nil {
				r.fail(err)
				return
			}
			mu.Lock()
			r.ops++
			r.verified += uint64(n)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if r.errs > 0 {
		return conns, fmt.Errorf("idle: %d of %d connections failed their first exchange: %v", r.errs, first-r.cfg.FirstID+k, r.firstErr)
	}
	return conns, nil
}

// churn runs Conns workers that each connect, exchange once, and close, until
// the window ends. Latency is the whole cycle.
func (r *run) churn(sample func(int)) error {
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.Conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := new(stat)
			defer r.merge(s)
			var seq uint64
			for !r.stopped() {
				t0 := time.Now()
				c, err := dial(r.cfg.Addr)
				if err != nil {
					r.fail(err)
					return
				}
				n, err := r.hello(c, i, &seq)
				c.Close()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					// 10 s without an answer: the server lost the
					// exchange, whatever the phase (see steady).
					r.failAlways(fmt.Errorf("churn: no answer within 10 s: %w", err))
					return
				}
				if err != nil {
					r.fail(err)
					return
				}
				s.verified += uint64(n)
				if r.measuring() {
					s.ops++
					s.bytes += uint64(n)
					s.h.Record(int64(time.Since(t0)))
				}
			}
		}()
	}
	r.window(sample)
	wg.Wait()
	return nil
}
