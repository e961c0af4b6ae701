package nethttp

import (
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/upoll/upoll/internal/testutil"
)

// TestReview16bCloseEndsAtClose: a conn that Close closed with no input
// left unread has ended for its peer, as Go's close(2) ends it with a
// FIN: bytes the peer sends once it has read the last answer (an HTTP
// client's late request body after a Connection: close answer) do not
// turn that end into a reset. upoll closed the socket only at the end
// of Close's work (the OnDisconnect hooks, the deregistration) or at
// its last reference: input that came in that time made the close a
// reset with no FIN before it, and the peer's read failed with
// ECONNRESET where Go's peer reads io.EOF. 200 rounds a stack, the late
// bytes sent as soon as the answer is read: Go's peer never sees a
// reset.
func TestReview16bCloseEndsAtClose(t *testing.T) {
	revCompare(t, leakFree(func(t *testing.T, st revStack) []string {
		ln, err := st.listen()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		const rounds = 200
		resets, other := 0, 0
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; i < rounds && time.Now().Before(deadline); i++ {
			srv, peer := revAccept(t, ln)
			peer.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := srv.Write([]byte("answer")); err != nil {
				t.Fatalf("%s: write: %v", st.name, err)
			}
			if err := srv.Close(); err != nil {
				t.Fatalf("%s: close: %v", st.name, err)
			}
			b := make([]byte, 6)
			if _, err := io.ReadFull(peer, b); err != nil {
				t.Fatalf("%s: the answer: %v", st.name, err)
			}
			peer.Write(make([]byte, 100)) // the late bytes
			_, err := io.ReadAll(peer)
			switch {
			case errors.Is(err, syscall.ECONNRESET):
				resets++
			case err != nil:
				other++
			}
			peer.Close()
		}
		return []string{fmt.Sprint("resets: ", resets), fmt.Sprint("other errors: ", other)}
	}))
}

// leakFree runs scenario in a subtest of its stack that fails if the
// scenario leaves goroutines or descriptors behind. The pollers of the
// stack's Dialer, which live as long as the process once a dial started
// them, are started before the count.
func leakFree(scenario func(t *testing.T, st revStack) []string) func(t *testing.T, st revStack) []string {
	return func(t *testing.T, st revStack) []string {
		var out []string
		t.Run(st.name, func(t *testing.T) {
			if st.dial != nil {
				c, peer := revDialPair(t, st)
				c.Close()
				peer.Close()
			}
			testutil.CheckLeaks(t)
			out = scenario(t, st)
		})
		return out
	}
}
