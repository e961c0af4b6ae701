package nethttp

import (
	"net"
	"os"

	"github.com/upoll/upoll/netpoll"
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
		name: "upoll",
		listen: func(network, addr string) (net.Listener, error) {
			// UPOLL=... selects poller settings for a whole test or
			// benchmark run (netpoll's override syntax).
			opts, err := netpoll.ParseEnv(os.Getenv(netpoll.EnvVar))
			if err != nil {
				return nil, err
			}
			return Listen(network, addr, opts...)
		},
		dial: new(Dialer).DialContext,
	}
}
