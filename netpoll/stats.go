package netpoll

import "sync/atomic"

// PollerStats are the counters of one poller. All are totals since the
// poller started, except LiveConns, MaxEventsPerWait and the Buffered
// and Paused gauges.
type PollerStats struct {
	Waits            uint64 // wait system calls, empty polls included: epoll_wait on BackendEpoll, every io_uring_enter on BackendUring; none on BackendStd
	Parks            uint64 // waits that blocked (or parked in the runtime)
	Wakeups          uint64 // wake-ups received (the pollset's wake channel)
	Events           uint64 // events returned by waits
	MaxEventsPerWait uint64 // most events one wait returned
	StaleEvents      uint64 // events dropped for a generation mismatch
	BytesIn          uint64 // bytes read from sockets
	BytesOut         uint64 // bytes written to sockets
	ReadCalls        uint64 // read system calls (BackendStd: Read calls on Go's net.Conn, each one or more system calls: the runtime's reads that find nothing are not seen)
	WriteCalls       uint64 // write system calls (BackendStd: Write calls on Go's net.Conn, each one or more system calls)
	ReadEAGAIN       uint64 // reads that found nothing (EAGAIN); none on BackendStd
	WriteEAGAIN      uint64 // writes the kernel refused (EAGAIN); none on BackendStd
	Sendfiles        uint64 // sendfile system calls of ReadFrom from a file, epoll and io_uring (not in WriteCalls)
	Splices          uint64 // splice system calls that move the bytes of a ReadFrom from a socket of Go's net into the connection, epoll and io_uring (not in WriteCalls; the splices that take them from the source, its side, are not counted)
	HandlerRuns      uint64 // handler invocations
	HandlerWaitNs    uint64 // total ns between a handler's submit and start
	Batches          uint64 // DispatchPool batches of several runs handed to the pool
	BatchedRuns      uint64 // handler runs handed to the pool in those batches
	Rescues          uint64 // batched runs given a task of their own after waiting 1 ms unclaimed
	Handoffs         uint64 // DispatchHandoff: duty passed on by a handler about to block, or by the watchdog
	WatchdogHandoffs uint64 // those of Handoffs the watchdog made (a handler ran a tick or more)
	LiveConns        int64  // connections open now, with the dials still connecting on epoll and io_uring (not under BackendStd, whose dials run in Go's net); a dial refused, timed out or cancelled while connecting is out of it when it returns
	TotalConns       uint64 // connections ever registered: accepted, and dialed once the dial returns them (a dial that fails, or a socket it drops for having connected to itself, is none)
	AcceptBackoffs   uint64 // times accept backed off on EMFILE/ENFILE
	AcceptPauses     uint64 // times a listener stopped accepting: MaxConns open, PauseAccept or HoldAccept, or 32 accepted connections waiting for their OnConnect to start
	Refused          uint64 // accepted connections closed at once: no poller could register them (ErrTooManyConns, the kernel refused), or the Server was closing
	BufferedIn       int64  // bytes of unread input buffered now (a handler's input on the poller that runs it: once the run ends or blocks)
	BufferedOut      int64  // bytes of unsent output queued now
	PausedByBound    int64  // connections not read now: input at their bound
	PausedByBudget   int64  // connections not read now: the Server's buffer budget
	Submissions      uint64 // BackendUring: submission entries the kernel took
	Completions      uint64 // BackendUring: completions reaped
	Enters           uint64 // BackendUring: io_uring_enter calls (waits and submissions)
	BuffersInUse     int64  // BackendUring: buffers of the ring holding received bytes not yet given back: waiting for the poller's read, or read into a connection without a copy and still held there or by a Slice of it
}

// EventsPerWait is the mean number of events per wait call.
func (s PollerStats) EventsPerWait() float64 {
	if s.Waits == 0 {
		return 0
	}
	return float64(s.Events) / float64(s.Waits)
}

// HandlerWaitMeanNs is the mean handler queue wait in nanoseconds.
func (s PollerStats) HandlerWaitMeanNs() float64 {
	if s.HandlerRuns == 0 {
		return 0
	}
	return float64(s.HandlerWaitNs) / float64(s.HandlerRuns)
}

func (s *PollerStats) add(o PollerStats) {
	s.Waits += o.Waits
	s.Parks += o.Parks
	s.Wakeups += o.Wakeups
	s.Events += o.Events
	s.MaxEventsPerWait = max(s.MaxEventsPerWait, o.MaxEventsPerWait)
	s.StaleEvents += o.StaleEvents
	s.BytesIn += o.BytesIn
	s.BytesOut += o.BytesOut
	s.ReadCalls += o.ReadCalls
	s.WriteCalls += o.WriteCalls
	s.ReadEAGAIN += o.ReadEAGAIN
	s.WriteEAGAIN += o.WriteEAGAIN
	s.Sendfiles += o.Sendfiles
	s.Splices += o.Splices
	s.HandlerRuns += o.HandlerRuns
	s.HandlerWaitNs += o.HandlerWaitNs
	s.Batches += o.Batches
	s.BatchedRuns += o.BatchedRuns
	s.Rescues += o.Rescues
	s.Handoffs += o.Handoffs
	s.WatchdogHandoffs += o.WatchdogHandoffs
	s.LiveConns += o.LiveConns
	s.TotalConns += o.TotalConns
	s.AcceptBackoffs += o.AcceptBackoffs
	s.AcceptPauses += o.AcceptPauses
	s.Refused += o.Refused
	s.BufferedIn += o.BufferedIn
	s.BufferedOut += o.BufferedOut
	s.PausedByBound += o.PausedByBound
	s.PausedByBudget += o.PausedByBudget
	s.Submissions += o.Submissions
	s.Completions += o.Completions
	s.Enters += o.Enters
	s.BuffersInUse += o.BuffersInUse
}

// Stats aggregates the counters of a server's pollers. The embedded
// PollerStats holds the sums (the max for MaxEventsPerWait); PerPoller
// holds each poller's own.
type Stats struct {
	PollerStats
	PerPoller []PollerStats // each poller's own counters, in poller order
}

// cacheLine pads counter groups apart so that counters written by the
// poller goroutine do not share a line with those written by handler
// goroutines.
type cacheLine [64]byte

// pollerCounters are the live atomics behind PollerStats. The first
// group is written only by the poller goroutine; the second by any
// goroutine (writers flush on their own goroutine, handlers record
// their queue wait).
type pollerCounters struct {
	_                cacheLine
	waits            atomic.Uint64
	parks            atomic.Uint64
	wakeups          atomic.Uint64
	events           atomic.Uint64
	maxEventsPerWait atomic.Uint64
	staleEvents      atomic.Uint64
	bytesIn          atomic.Uint64
	readCalls        atomic.Uint64
	readEAGAIN       atomic.Uint64
	batches          atomic.Uint64
	batchedRuns      atomic.Uint64
	rescues          atomic.Uint64
	_                cacheLine
	bytesOut         atomic.Uint64
	writeCalls       atomic.Uint64
	writeEAGAIN      atomic.Uint64
	sendfiles        atomic.Uint64
	splices          atomic.Uint64
	handlerRuns      atomic.Uint64
	handlerWaitNs    atomic.Uint64
	handoffs         atomic.Uint64
	watchdogHandoffs atomic.Uint64
	_                cacheLine
	liveConns        atomic.Int64
	totalConns       atomic.Uint64
	acceptBackoffs   atomic.Uint64
	acceptPauses     atomic.Uint64
	refused          atomic.Uint64
	_                cacheLine
	bufferedIn       atomic.Int64 // see budget
	bufferedOut      atomic.Int64
	published        atomic.Int64 // bufferedIn+bufferedOut as last added to budget.total
	pausedBound      atomic.Int64
	pausedBudget     atomic.Int64
	_                cacheLine
}

func (c *pollerCounters) snapshot() PollerStats {
	return PollerStats{
		Waits:            c.waits.Load(),
		Parks:            c.parks.Load(),
		Wakeups:          c.wakeups.Load(),
		Events:           c.events.Load(),
		MaxEventsPerWait: c.maxEventsPerWait.Load(),
		StaleEvents:      c.staleEvents.Load(),
		BytesIn:          c.bytesIn.Load(),
		BytesOut:         c.bytesOut.Load(),
		ReadCalls:        c.readCalls.Load(),
		WriteCalls:       c.writeCalls.Load(),
		ReadEAGAIN:       c.readEAGAIN.Load(),
		WriteEAGAIN:      c.writeEAGAIN.Load(),
		Sendfiles:        c.sendfiles.Load(),
		Splices:          c.splices.Load(),
		HandlerRuns:      c.handlerRuns.Load(),
		HandlerWaitNs:    c.handlerWaitNs.Load(),
		Batches:          c.batches.Load(),
		BatchedRuns:      c.batchedRuns.Load(),
		Rescues:          c.rescues.Load(),
		Handoffs:         c.handoffs.Load(),
		WatchdogHandoffs: c.watchdogHandoffs.Load(),
		LiveConns:        c.liveConns.Load(),
		TotalConns:       c.totalConns.Load(),
		AcceptBackoffs:   c.acceptBackoffs.Load(),
		AcceptPauses:     c.acceptPauses.Load(),
		Refused:          c.refused.Load(),
		BufferedIn:       c.bufferedIn.Load(),
		BufferedOut:      c.bufferedOut.Load(),
		PausedByBound:    c.pausedBound.Load(),
		PausedByBudget:   c.pausedBudget.Load(),
	}
}

// recordWait records one wait that returned n events (its epoll_wait
// calls are counted by the epoll itself). Only the poller goroutine
// calls it, so the max needs no CAS.
func (c *pollerCounters) recordWait(n int) {
	if n > 0 {
		c.events.Add(uint64(n))
		if uint64(n) > c.maxEventsPerWait.Load() {
			c.maxEventsPerWait.Store(uint64(n))
		}
	}
}
