package server

import "net"

// externalAddr is the address of a target that serves from a process of
// its own; pid is that process, the one whose CPU and memory are measured.
type externalAddr struct {
	net.Addr
	pid int
}
