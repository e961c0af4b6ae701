package server

import (
	"net"
	"time"

	"github.com/upoll/upoll/netpoll"
)

// Counters are what a upoll target's own counters (netpoll.Stats) say
// its pollers did, totals since the server started. Which system calls
// they stand for depends on the backend: on epoll, Reads and Writes are
// the read/readv and write/writev calls upoll makes and Waits its
// epoll_wait calls; on std, Reads and Writes are Read and Write calls on
// a net.Conn (the runtime's EAGAIN retries and its epoll_wait are not
// seen) and Waits is zero; on uring, Reads and Writes are the readv and
// writev calls made beside the ring (a receive that ended, a flush off
// the poller's goroutine), and Waits its io_uring_enter calls.
type Counters struct {
	// At is when they were read (Unix ns): rates are taken over the
	// server's own interval between two readings.
	At          int64  `json:"at_unix_ns"`
	Backend     string `json:"backend"`
	Reads       uint64 `json:"reads"`
	Writes      uint64 `json:"writes"`
	Waits       uint64 `json:"waits"`
	ReadEAGAIN  uint64 `json:"read_eagain"`
	WriteEAGAIN uint64 `json:"write_eagain"`
	HandlerRuns uint64 `json:"handler_runs"`
}

// Sub returns the counts from b to a (a taken after b); At becomes the
// ns between them.
func (a Counters) Sub(b Counters) Counters {
	return Counters{
		At:          a.At - b.At,
		Backend:     a.Backend,
		Reads:       a.Reads - b.Reads,
		Writes:      a.Writes - b.Writes,
		Waits:       a.Waits - b.Waits,
		ReadEAGAIN:  a.ReadEAGAIN - b.ReadEAGAIN,
		WriteEAGAIN: a.WriteEAGAIN - b.WriteEAGAIN,
		HandlerRuns: a.HandlerRuns - b.HandlerRuns,
	}
}

// upollAddr is the address of a target served by a upoll Server, which
// it carries for its configuration and counters.
type upollAddr struct {
	net.Addr
	srv *netpoll.Server
}

func (a upollAddr) counters() Counters {
	st := a.srv.Stats()
	return Counters{
		At:          time.Now().UnixNano(),
		Backend:     a.srv.Config().Backend.String(),
		Reads:       st.ReadCalls,
		Writes:      st.WriteCalls,
		Waits:       st.Waits,
		ReadEAGAIN:  st.ReadEAGAIN,
		WriteEAGAIN: st.WriteEAGAIN,
		HandlerRuns: st.HandlerRuns,
	}
}
