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
