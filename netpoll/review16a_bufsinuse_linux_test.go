package netpoll

import (
	"io"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
	"github.com/upoll/upoll/internal/testutil"
)

// TestReview16aBuffersInUseCountsHeld: under BackendUring,
// PollerStats.BuffersInUse counts the buffers whose received bytes a
// LinkBuffer still holds without a copy (here a Slice the handler
// keeps after its input was read into the connection and released), and
// falls to 0 once the holder lets go: what the field's doc says.
func TestReview16aBuffersInUseCountsHeld(t *testing.T) {
	needUring(t)
	t.Setenv(uringZCEnv, "1")
	testutil.CheckLeaks(t)
	kept := make(chan *buffer.LinkBuffer, 1)
	s, addr := startServer(t, func(c *Conn) error {
		r := c.Reader()
		sl, err := r.Slice(r.Len()) // read into the connection
		if err != nil {
			return err
		}
		if b, _ := sl.Peek(sl.Len()); string(b) == "held" {
			kept <- sl // kept after the run
		} else {
			sl.Release()
			sl.Close()
			c.Writer().WriteBinary([]byte("ok"))
			c.Writer().Flush()
		}
		return r.Release()
	}, WithBackend(BackendUring), WithTrigger(EdgeTriggered), WithPollers(1))
	c := dialTCP(t, addr)
	// The first read of an edge-triggered connection is a readv into
	// the LinkBuffer's own memory; the receive into the buffer group
	// is armed after it.
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	sl := testutil.Receive(t, kept, 5*time.Second, "the handler's Slice")
	st := s.Stats()
	if st.BufferedIn != 0 || st.BuffersInUse == 0 {
		t.Errorf("with the input read and released, a Slice of it kept: BufferedIn %d, BuffersInUse %d; want 0 and > 0", st.BufferedIn, st.BuffersInUse)
	}
	if b, _ := sl.Peek(4); string(b) != "held" {
		t.Errorf("the kept Slice holds %q", b)
	}
	sl.Release()
	sl.Close()
	if !testutil.WaitFor(5*time.Second, func() bool { return s.Stats().BuffersInUse == 0 }) {
		t.Errorf("BuffersInUse %d after the Slice was released", s.Stats().BuffersInUse)
	}
}
