package nethttp

import (
	"net"
)

// stacks lists the socket implementations every conformance test runs on.
func stacks() []stack {
	return []stack{stdStack()}
}

func stdStack() stack {
	return stack{
		name:   "std",
		listen: net.Listen,
		dial:   new(net.Dialer).DialContext,
	}
}
