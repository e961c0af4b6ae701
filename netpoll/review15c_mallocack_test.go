package netpoll

import (
	"io"
	"testing"
	"time"
)

// Writer.MallocAck(n) keeps the first n bytes written since the last
// Flush, whatever wrote them, not the first n of what Malloc returned:
// its doc said the latter, and a writer that followed it (a header
// written with WriteString, then MallocAck with the length of the body
// it read into a Malloc) lost the end of its body. The peer must get
// the header and the body's first bytes, and nothing that MallocAck
// dropped.
func TestReview15CMallocAckCountsEveryWrite(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			sc, cl := acceptPair(t, WithBackend(be))
			w := sc.Writer()
			if _, err := w.WriteString("hdr:"); err != nil {
				t.Fatal(err)
			}
			p, err := w.Malloc(8)
			if err != nil {
				t.Fatal(err)
			}
			copy(p, "bodyXXXX")
			if n := w.MallocLen(); n != 12 {
				t.Fatalf("MallocLen = %d, want 12 (the header's 4 and the Malloc's 8)", n)
			}
			// Keep the header and the first 4 bytes of the body.
			if err := w.MallocAck(len("hdr:") + 4); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			cl.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, 8)
			if _, err := io.ReadFull(cl, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != "hdr:body" {
				t.Fatalf("peer got %q, want %q", got, "hdr:body")
			}
			cl.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if n, _ := cl.Read(make([]byte, 8)); n != 0 {
				t.Fatalf("peer got %d bytes that MallocAck dropped", n)
			}
		})
	}
}

// A Conn.Write on another goroutine while a batch is being built sends
// the batch as it stands, ahead of its own bytes, and ends it: the
// Writer's doc now says so (it said only that the methods are
// serialized with Write, which let a batch builder believe its Malloc
// slices stayed its own until its Flush). The test pins that: after the
// other goroutine's Write, MallocLen is 0 and the peer has the batch's
// 8 bytes, then the Write's. The slice Malloc returned is not touched
// after the Write: its memory may be back in the pool.
func TestReview15CWriteEndsOthersBatch(t *testing.T) {
	for _, be := range testBackends(true) {
		t.Run(be.String(), func(t *testing.T) {
			sc, cl := acceptPair(t, WithBackend(be))
			w := sc.Writer()
			p, err := w.Malloc(8)
			if err != nil {
				t.Fatal(err)
			}
			copy(p, "batch...")
			done := make(chan error, 1)
			go func() {
				_, err := sc.Write([]byte("x"))
				done <- err
			}()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if n := w.MallocLen(); n != 0 {
				t.Fatalf("MallocLen after another goroutine's Write = %d, want 0 (the batch was sent)", n)
			}
			cl.SetReadDeadline(time.Now().Add(5 * time.Second))
			got := make([]byte, 9)
			if _, err := io.ReadFull(cl, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != "batch...x" {
				t.Fatalf("peer got %q, want %q", got, "batch...x")
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("Flush of the ended batch: %v", err)
			}
			cl.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			if n, _ := cl.Read(make([]byte, 8)); n != 0 {
				t.Fatalf("peer got %d more bytes", n)
			}
		})
	}
}
