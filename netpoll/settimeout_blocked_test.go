package netpoll

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestSetReadTimeoutWhileBlocked: SetReadTimeout wakes a blocked read
// (it notifies the read waiter) so that the new bound applies to the
// wait under way, as SetReadDeadline's does; a read blocked with no
// bound must then end with the timeout, not wait for ever.
func TestSetReadTimeoutWhileBlocked(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b))
			cl := dialTCP(t, addr)
			_ = cl
			sc := recvConn(t, conns)
			defer sc.Close()
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := sc.Read(make([]byte, 1))
				done <- err
			}()
			time.Sleep(100 * time.Millisecond)
			const d = 200 * time.Millisecond
			if err := sc.SetReadTimeout(d); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				took := time.Since(start)
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("read = %v after %v, want a timeout", err, took)
				}
				t.Logf("read timed out %v after it began", took)
			case <-time.After(3 * time.Second):
				sc.SetReadDeadline(time.Unix(1, 0)) // end the read
				<-done
				t.Fatalf("SetReadTimeout(%v) on a blocked read: still blocked 3 s later", d)
			}
		})
	}
}

// TestSetWriteTimeoutWhileBlocked: the same for a Write blocked on a
// peer that does not read.
func TestSetWriteTimeoutWhileBlocked(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithBackend(b), WithMaxOutput(64<<10))
			cl := dialTCP(t, addr)
			cl.SetReadBuffer(16 << 10)
			sc := recvConn(t, conns)
			defer sc.Close()
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := sc.Write(make([]byte, 32<<20))
				done <- err
			}()
			time.Sleep(200 * time.Millisecond)
			const d = 200 * time.Millisecond
			if err := sc.SetWriteTimeout(d); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				took := time.Since(start)
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("write = %v after %v, want a timeout", err, took)
				}
				t.Logf("write timed out %v after it began", took)
			case <-time.After(3 * time.Second):
				sc.SetWriteDeadline(time.Unix(1, 0))
				<-done
				t.Fatalf("SetWriteTimeout(%v) on a blocked write: still blocked 3 s later", d)
			}
		})
	}
}
