package netpoll

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// Under SQPOLL a server-side Close of a connection with a multishot
// receive reaches the peer (FIN): the socket really closes. The kernel's
// submission thread read a cancellation by descriptor after close(2) had
// freed the number, found nothing, and the receive kept the socket open
// for the ring's life (2 to 12 of 20 rounds before the fix).
func TestUringSQPollCloseReachesPeer(t *testing.T) {
	needUring(t)
	t.Setenv(uringSQPollEnv, "1")
	h := func(c *Conn) error {
		r, w := c.Reader(), c.Writer()
		b, err := r.Next(r.Len())
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("Q")) {
			r.Release()
			return c.Close()
		}
		w.WriteBinary(b)
		r.Release()
		return w.Flush()
	}
	_, addr := startServer(t, h, WithBackend(BackendUring), WithPollers(1))
	stuck := 0
	const rounds = 20
	for i := range rounds {
		c := dialTCP(t, addr)
		b := make([]byte, 2)
		for range 2 { // the second message comes by the multishot receive
			if _, err := c.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, b); err != nil {
				t.Fatalf("round %d: echo: %v", i, err)
			}
		}
		time.Sleep(80 * time.Millisecond) // the submission thread goes idle (50 ms)
		if _, err := c.Write([]byte("Q")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(b); !errors.Is(err, io.EOF) {
			stuck++
			t.Logf("round %d: after the server's Close the client read: %v", i, err)
		}
		c.Close()
	}
	if stuck > 0 {
		t.Errorf("%d of %d server-side closes never reached the peer (no FIN within 2 s)", stuck, rounds)
	}
}
