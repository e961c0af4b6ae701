package netpoll

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// runEchoClients opens n connections to addr; each sends msgs random
// messages (1 B .. maxSize) and checks every echoed byte.
func runEchoClients(t *testing.T, addr string, n, msgs, maxSize int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 256) // bound concurrent dials
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs <- echoClient(addr, uint64(i), msgs, maxSize)
		}()
	}
	testutil.WaitGroup(t, &wg, 3*time.Minute, "the echo clients")
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func echoClient(addr string, seed uint64, msgs, maxSize int) error {
	return echoClientT(addr, seed, msgs, maxSize, 60*time.Second)
}

func echoClientT(addr string, seed uint64, msgs, maxSize int, limit time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(limit))
	rng := rand.New(rand.NewPCG(seed, 7))
	for m := range msgs {
		size := 1 + rng.IntN(maxSize)
		if rng.IntN(4) != 0 {
			size = 1 + rng.IntN(min(maxSize, 1024))
		}
		out := make([]byte, size)
		for i := range out {
			out[i] = byte(rng.Uint32())
		}
		werr := make(chan error, 1)
		go func() { _, err := c.Write(out); werr <- err }()
		in := make([]byte, size)
		if _, err := io.ReadFull(c, in); err != nil {
			return fmt.Errorf("conn %d msg %d (%d B): read: %w", seed, m, size, err)
		}
		if err := <-werr; err != nil {
			return fmt.Errorf("conn %d msg %d: write: %w", seed, m, err)
		}
		if !bytes.Equal(in, out) {
			return fmt.Errorf("conn %d msg %d: echoed bytes differ", seed, m)
		}
	}
	return nil
}

func TestEchoHandler(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr := startServer(t, echoHandler, WithTrigger(trig), WithPollers(2))
			runEchoClients(t, addr, 50, 10, 256<<10)
		})
	}
}

func TestEchoAcceptMode(t *testing.T) {
	for _, trig := range allTriggers {
		t.Run(trig.String(), func(t *testing.T) {
			_, addr, conns := startAccept(t, WithTrigger(trig), WithPollers(2))
			go func() {
				for c := range conns {
					go func() {
						defer c.Close()
						io.Copy(c, c)
					}()
				}
			}()
			runEchoClients(t, addr, 20, 10, 256<<10)
		})
	}
}
