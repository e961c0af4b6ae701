package nethttp

import (
	"net"
)

// stacks lists the socket implementations every conformance test runs on.
// The upoll stack uses netpoll's defaults, so UPOLL=... (netpoll's
// override, e.g. UPOLL=trigger=edge,wait=runtime) runs the whole suite or
// benchmark under other poller settings.
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
