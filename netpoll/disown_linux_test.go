package netpoll

import (
	"bytes"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/upoll/upoll/buffer"
)

// A call that sends a Writer's open batch ahead of its own bytes (Write,
// CloseWrite, ReadFrom by copy or by sendfile) from another goroutine,
// while the batch's builder still holds a Malloc'd slice: the builder's
// late fill (a misuse the Writer's doc warns of) must not land in the
// bytes of buffers made since. Before, the sent node went back to the
// pool with its bytes, and the next buffer to take a node on the
// sender's P was given the very bytes the slice pointed at: a late
// fill overwrote another connection's data.
func TestOthersWriteLeavesBatchToGC(t *testing.T) {
	ops := []struct {
		name string
		send func(t *testing.T, sc *Conn) error
		want string // what the peer gets after the batch's 8 bytes
	}{
		{"Write", func(t *testing.T, sc *Conn) error {
			_, err := sc.Write([]byte("w"))
			return err
		}, "w"},
		{"CloseWrite", func(t *testing.T, sc *Conn) error { return sc.CloseWrite() }, ""},
		{"ReadFrom/copy", func(t *testing.T, sc *Conn) error {
			_, err := sc.ReadFrom(io.LimitReader(bytes.NewReader([]byte("r")), 1))
			return err
		}, "r"},
		{"ReadFrom/sendfile", func(t *testing.T, sc *Conn) error {
			_, err := sc.ReadFrom(fileOf(t, []byte("f")))
			return err
		}, "f"},
	}
	for _, be := range testBackends(true) {
		for _, op := range ops {
			t.Run(be.String()+"/"+op.name, func(t *testing.T) {
				sc, cl := acceptPair(t, WithBackend(be))
				w := sc.Writer()
				p, err := w.Malloc(8)
				if err != nil {
					t.Fatal(err)
				}
				type result struct {
					err    error
					others []*buffer.LinkBuffer
				}
				done := make(chan result, 1)
				go func() {
					// The buffers below take their nodes from the
					// pool of the P that sent the batch (not under
					// io_uring, whose poller may send it: there the
					// test checks only what the peer gets).
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					err := op.send(t, sc)
					others := make([]*buffer.LinkBuffer, 4)
					for i := range others {
						o := buffer.New()
						o.WriteString("other's")
						o.Flush()
						others[i] = o
					}
					done <- result{err, others}
				}()
				r := <-done
				if r.err != nil {
					t.Fatal(r.err)
				}
				cl.SetReadDeadline(time.Now().Add(5 * time.Second))
				got := make([]byte, 8+len(op.want))
				if _, err := io.ReadFull(cl, got); err != nil {
					t.Fatal(err)
				}
				if string(got[8:]) != op.want {
					t.Fatalf("peer got %q after the batch, want %q", got[8:], op.want)
				}
				copy(p, "LATEFILL") // the builder's late fill
				for i, o := range r.others {
					if b, _ := o.Peek(7); string(b) != "other's" {
						t.Errorf("buffer %d made after the batch was sent holds %q after a late fill of its Malloc'd slice, want %q", i, b, "other's")
					}
					o.Close()
				}
				if err := w.Flush(); err != nil && op.name != "CloseWrite" {
					t.Fatalf("Flush of the ended batch: %v", err)
				}
			})
		}
	}
}
