package netpoll

import (
	"io"
	"testing"
	"time"
)

// TestNotifyInputOnHandlerConn: NotifyInput on a connection with a
// handler runs the callback at the next input, and the handler still
// gets that input (it echoes it), on every backend. Under BackendStd
// the registration started a watcher beside the connection's loop, and
// the two raced for the socket: when the loop read the input (the
// registration made in OnConnect, which returns at once) the handler
// echoed and the callback never ran, the watcher blocking in the read
// after it; when the watcher read it (OnConnect lingering 50 ms after it
// registers, so the watcher reads first) the callback ran and the
// handler never did, the loop blocking after it.
func TestNotifyInputOnHandlerConn(t *testing.T) {
	for _, be := range testBackends(true) {
		for _, linger := range []time.Duration{0, 50 * time.Millisecond} {
			t.Run(be.String()+"/"+linger.String(), func(t *testing.T) {
				n := newNotified()
				_, addr := startServer(t, func(c *Conn) error {
					r := c.Reader()
					b, err := r.Next(r.Len())
					if err != nil {
						return err
					}
					_, err = c.Write(b)
					r.Release()
					return err
				}, WithBackend(be), WithOnConnect(func(c *Conn) {
					c.NotifyInput(n.f)
					time.Sleep(linger)
				}))
				cl := dialTCP(t, addr)
				time.Sleep(100 * time.Millisecond) // registered, OnConnect returned
				if _, err := cl.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				cl.SetReadDeadline(time.Now().Add(3 * time.Second))
				got := make([]byte, 4)
				_, err := io.ReadFull(cl, got)
				ran := n.wait(3 * time.Second)
				if err != nil || string(got) != "ping" || !ran {
					t.Fatalf("echo = %q, %v, callback ran: %v; want \"ping\", and the callback to run", got, err, ran)
				}
			})
		}
	}
}
