package server

import "net"

// externalAddr is the address of a target that serves from a process of
// its own; pid is that process, the one whose CPU and memory are measured.
// counters, when set, asks that process for its own counts (the io_uring
// floor's io_uring_enter calls); it fails when the process does not answer.
type externalAddr struct {
	net.Addr
	pid      int
	counters func() (Counters, error)
}
