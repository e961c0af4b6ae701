package netpoll

import (
	"io"
	"sync"
	"testing"
	"time"
)

// TestSetIdleTimeoutLowersSweep: SetIdleTimeout promises the close
// "between d and d plus" a quarter of the smallest idle timeout. A
// connection that lowers its timeout below the Server's must not wait for
// the sweep that the Server's longer timeout had scheduled (up to 1 s
// away). Eight connections lower theirs at staggered instants, so that
// one of them lands just after such a sweep whatever its phase.
func TestSetIdleTimeoutLowersSweep(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) { testSetIdleTimeoutLowersSweep(t, b) })
	}
}

func testSetIdleTimeoutLowersSweep(t *testing.T, b Backend) {
	const (
		n     = 8
		short = 40 * time.Millisecond
		slack = 350 * time.Millisecond // the promise is short + short/4
	)
	opts := []Option{WithBackend(b), WithIdleTimeout(4 * time.Second)}
	if b != BackendStd {
		opts = append(opts, WithPollers(1))
	}
	_, addr, conns := startAccept(t, opts...)
	type pair struct {
		sc *Conn
		cl interface {
			Read([]byte) (int, error)
			SetReadDeadline(time.Time) error
		}
	}
	ps := make([]pair, n)
	for i := range ps {
		cl := dialTCP(t, addr)
		ps[i] = pair{recvConn(t, conns), cl}
	}
	// Let the poller settle into its 1 s sweep period.
	time.Sleep(300 * time.Millisecond)
	delays := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 125 * time.Millisecond)
			p := ps[i]
			p.cl.SetReadDeadline(time.Now().Add(3 * time.Second))
			start := time.Now()
			if err := p.sc.SetIdleTimeout(short); err != nil {
				t.Error(err)
				return
			}
			_, err := p.cl.Read(make([]byte, 1))
			delays[i] = time.Since(start)
			if err != io.EOF {
				t.Errorf("conn %d: read = %v after %v, want EOF", i, err, delays[i])
			}
		}()
	}
	wg.Wait()
	t.Logf("idle %v: closed after %v", short, delays)
	for i, d := range delays {
		if d < short {
			t.Errorf("conn %d closed after %v, before its idle timeout %v", i, d, short)
		}
		if d > short+slack {
			t.Errorf("conn %d closed after %v; SetIdleTimeout(%v) promises at most %v (slack %v)", i, d, short, short+short/4, slack)
		}
	}
}
