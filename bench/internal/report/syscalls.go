package report

import "fmt"

// backendCounts says what upoll's own counters (the reads, writes and
// waits columns of the system-call table) stand for on backend, and
// whether they are system calls at all. A new backend gets the generic
// sentence until a case is added here.
func backendCounts(backend string) string {
	switch backend {
	case "epoll":
		return "epoll: the read/readv and write/writev calls upoll makes and its epoll_wait calls (empty polls included); " +
			"not counted: epoll_ctl (re-arming in oneshot mode, write interest), eventfd wake-ups, and the runtime's own calls " +
			"(its epoll_wait when a poller parks in the runtime, futex)"
	case "std":
		return "std: Read and Write calls on a net.Conn, not system calls: a Read that finds nothing makes a read that fails " +
			"with EAGAIN, parks and reads again, and the runtime's epoll_wait is not seen, so the total is a lower bound (marked ≥) " +
			"and waits is n/a; the kernel's r/w column counts every read and write"
	case "c-uring":
		return "c-uring: floor-c-uring, the io_uring floor in C, which counts its own io_uring_enter calls (submitting and waiting) as waits; " +
			"it receives and sends through the ring, so its reads and writes are zeros"
	case "uring":
		return "uring: the readv calls upoll makes (received input copied from the ring is not a call) and its write/writev calls, " +
			"and as waits every io_uring_enter (submitting and waiting); not counted: the runtime's own calls (its epoll_wait " +
			"when a poller parks in the runtime, futex)"
	}
	return backend + ": the calls netpoll.Stats counts as ReadCalls, WriteCalls and Waits"
}

// countsLowerBound reports whether upoll's counters on backend leave out
// calls of the reads and writes themselves (not just of the waiting).
func countsLowerBound(backend string) bool { return backend == "std" }

// syscallTable lists the system calls per operation of every target in
// every timed case: the read- and write-class calls the kernel counted
// for the server (and the load generator), and for upoll targets their
// own counters' reads, writes and waits.
func syscallTable(cases []Case, term bool) *table {
	t := &table{head: []string{"case", "target", "backend", "srv r/w calls/op (kernel)", "upoll reads/op", "upoll writes/op",
		"upoll waits/op", "upoll calls/op", "load r/w calls/op (kernel)"}}
	if term {
		t.head = []string{"case", "target", "backend", "srv r/w", "reads", "writes", "waits", "upoll", "load r/w"}
	}
	for i := range cases {
		c := &cases[i]
		if c.Workload == "idle" {
			continue
		}
		for j := range c.Results {
			r := &c.Results[j]
			m := r.Median
			reads, writes, waits, total := "-", "-", "-", "-"
			// A poller that ran counted its waits: under io_uring with
			// input and sends through the ring its reads and writes are
			// measured zeros, not missing counters.
			if m.UpollReadsPerOp > 0 || m.UpollWritesPerOp > 0 || m.UpollWaitsPerOp > 0 {
				reads, writes = counted(m.UpollReadsPerOp), counted(m.UpollWritesPerOp)
				waits = counted(m.UpollWaitsPerOp)
				// The median of the rounds' sums, as the goals take
				// it: the sum of the three medians may be no round's.
				sum := counted(Median(r.samples(upollCalls)))
				if countsLowerBound(r.Backend) {
					waits = "n/a"
					sum = "≥" + sum
				}
				total = sum
			}
			srv, ld := perOp(m.ServerRWCallsPerOp), perOp(m.LoadRWCallsPerOp)
			if m.ServerRWCallsPerOp == 0 && r.rwCounted(serverRW) {
				srv = counted(0)
			}
			if m.LoadRWCallsPerOp == 0 && r.rwCounted(loadRW) {
				ld = counted(0)
			}
			t.add(c.ID, r.label(false), r.backendCell(), srv, reads, writes, waits, total, ld)
		}
	}
	return t
}

// serverRW and loadRW pick a run's kernel read/write count per
// operation and whether it was read (Result.rwSamples).
func serverRW(run Run) (float64, bool) { return run.ServerRWCallsPerOp, run.ServerRWCounted }
func loadRW(run Run) (float64, bool)   { return run.LoadRWCallsPerOp, run.LoadRWCounted }

// perOp formats calls per operation ("-" when not measured).
func perOp(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// counted formats calls per operation of a counter that was read.
func counted(v float64) string { return fmt.Sprintf("%.2f", v) }

// syscallLegend says what the system-call table counts, naming the
// backends that appear in it.
func syscallLegend(cases []Case) []string {
	out := []string{"srv r/w and load r/w: read-class plus write-class system calls (read, readv, write, writev, on sockets, eventfds and pipes; " +
		"EAGAIN failures included) of the server and of the load-generator (client) process over the window, per operation, " +
		"as the kernel counts them (/proc/<pid>/io syscr+syscw): true counts, for every target, but epoll_wait, io_uring_enter, epoll_ctl, " +
		"accept4, futex and the like are not in them.",
		"upoll reads, writes, waits, and their sum: what a upoll server's own counters (netpoll.Stats) counted per operation over the same window; by backend:"}
	seen := map[string]bool{}
	for i := range cases {
		for _, r := range cases[i].Results {
			if r.Backend == "" || seen[r.Backend] {
				continue
			}
			seen[r.Backend] = true
			out = append(out, "  "+backendCounts(r.Backend)+".")
		}
	}
	return out
}

// hasSyscalls reports whether any timed case measured system calls.
func hasSyscalls(cases []Case) bool {
	for i := range cases {
		for _, r := range cases[i].Results {
			if m := r.Median; m.ServerRWCallsPerOp > 0 || upollCalls(m) > 0 {
				return true
			}
		}
	}
	return false
}
