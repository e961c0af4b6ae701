package load

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// hello does one verified exchange on a fresh connection, so the server has
// certainly accepted it and served it once.
func (r *run) hello(c net.Conn, id int) (int, error) {
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
	var seq uint64
	message(send, r.cfg.Size, id, &seq)
	return len(send), exchange(c, send, recv)
}

// idle opens Conns connections, exchanges once on each, reports "IDLE n",
// and holds them (without any goroutine of its own) until a line arrives on
// in, so the parent can measure the server's memory meanwhile.
func (r *run) idle(in io.Reader, out io.Writer) error {
	conns, err := dialAll(r.cfg.Addr, r.cfg.Conns)
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, c := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := r.hello(c, i)
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
		return fmt.Errorf("idle: %d of %d connections failed their first exchange: %v", r.errs, len(conns), r.firstErr)
	}
	fmt.Fprintf(out, "IDLE %d\n", len(conns))
	bufio.NewReader(in).ReadString('\n')
	return nil
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
			for !r.stopped() {
				t0 := time.Now()
				c, err := dial(r.cfg.Addr)
				if err != nil {
					r.fail(err)
					return
				}
				n, err := r.hello(c, i)
				c.Close()
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
