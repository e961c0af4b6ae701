package netpoll

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// TestDialerOptionsIdleTimeout: Dialer documents WithIdleTimeout among
// the per-connection settings its Options may set. A connection dialed
// with it and left without I/O must be closed once the timeout passes,
// as an accepted one is; the peer sees the end.
func TestDialerOptionsIdleTimeout(t *testing.T) {
	for _, b := range testBackends(true) {
		t.Run(b.String(), func(t *testing.T) {
			const idle = 100 * time.Millisecond
			peerEnd := make(chan error, 1)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					peerEnd <- err
					return
				}
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				_, err = c.Read(make([]byte, 1))
				peerEnd <- err
			}()
			var reason error
			got := make(chan struct{})
			d := Dialer{Timeout: 5 * time.Second, Options: []Option{WithBackend(b), WithIdleTimeout(idle),
				WithOnDisconnect(func(c *Conn, err error) { reason = err; close(got) })}}
			start := time.Now()
			c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = <-peerEnd
			took := time.Since(start)
			if err != io.EOF {
				t.Fatalf("the peer's read = %v after %v; a connection dialed with WithIdleTimeout(%v) was not closed", err, took, idle)
			}
			if took < idle {
				t.Fatalf("closed after %v, before its idle timeout %v", took, idle)
			}
			<-got
			if !errors.Is(reason, ErrIdleTimeout) {
				t.Fatalf("close reason %v, want ErrIdleTimeout", reason)
			}
			t.Logf("closed %v after the dial began", took)
		})
	}
}
