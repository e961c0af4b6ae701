package netpoll

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestOnDisconnectFollowsOnConnect: every connection whose OnDisconnect
// runs had its OnConnect run first, also when it closes before its
// first run (here a dialed connection closed as soon as Dial returns).
// A hook pair that counts or allocates per connection relies on it.
func TestOnDisconnectFollowsOnConnect(t *testing.T) {
	for _, mode := range []Dispatch{DispatchHandoff, DispatchPool, DispatchEach} {
		t.Run(mode.String(), func(t *testing.T) {
			var mu sync.Mutex
			connected := map[*Conn]bool{}
			var unpaired, disconnects int
			done := make(chan struct{}, 1024)
			_, addr := startServer(t, echoHandler)
			g, err := NewServer(echoHandler, WithDispatch(mode),
				WithOnConnect(func(c *Conn) {
					mu.Lock()
					connected[c] = true
					mu.Unlock()
				}),
				WithOnDisconnect(func(c *Conn, err error) {
					mu.Lock()
					if !connected[c] {
						unpaired++
					}
					disconnects++
					mu.Unlock()
					done <- struct{}{}
				}))
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			d := &Dialer{Server: g, Timeout: 5 * time.Second}
			const n = 300
			for i := range n {
				c, err := d.DialContext(context.Background(), "tcp", addr)
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				c.Close()
			}
			for i := range n {
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Fatalf("%d of %d OnDisconnect calls in 5 s", i, n)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if unpaired > 0 {
				t.Fatalf("%d of %d connections got OnDisconnect without OnConnect", unpaired, disconnects)
			}
		})
	}
}
