package nethttp

import (
	"net"
)

// stacks lists the socket implementations every conformance test runs on.
func stacks() []stack {
	return []stack{stdStack(), upollStack()}
}

func stdStack() stack {
	return stack{
		name:   "std",
		listen: net.Listen,
		dial:   new(net.Dialer).DialContext,
	}
}

func upollStack() stack {
	return stack{
		name:   "upoll",
		listen: func(network, addr string) (net.Listener, error) { return Listen(network, addr) },
		dial:   new(Dialer).DialContext,
	}
}
