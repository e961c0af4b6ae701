package netpoll

import (
	"testing"
	"time"
)

// TestHoldAccept: HoldAccept and PauseAccept pause accepting apart, and
// the end of either leaves the other in force: a connection that comes
// while both hold is served only once both have ended, in either order.
func TestHoldAccept(t *testing.T) {
	for _, tc := range gateCases() {
		t.Run(tc.name, func(t *testing.T) {
			s, addr, _ := tc.serveOne(t)
			for _, order := range []string{"resume first", "release first"} {
				s.HoldAccept()
				s.PauseAccept()
				waiting := dialTCP(t, addr)
				defer waiting.Close()
				first, second := s.ResumeAccept, s.ReleaseAccept
				if order == "release first" {
					first, second = s.ReleaseAccept, s.ResumeAccept
				}
				first()
				if echoedWithin(t, waiting, 100*time.Millisecond) {
					t.Fatalf("%s: a connection was served while one pause was still in force", order)
				}
				second()
				if err := echoArrives(waiting); err != nil {
					t.Fatalf("%s: the waiting connection after both ended: %v", order, err)
				}
			}
		})
	}
}
