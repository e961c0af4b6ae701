package nethttp

import (
	"net"
	"testing"
	"time"
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

// testLinger is the parking stack's linger: short, so that the pauses of
// the tests (a client that thinks, a server that waits for a timeout)
// park connections and the suite exercises parking and un-parking.
const testLinger = 10 * time.Millisecond

// parkStack is upoll with idle parking on: newHTTPEnv calls
// EnableParking on its server and listener.
func parkStack() stack {
	s := upollStack()
	s.name = "upoll-park"
	s.park = true
	return s
}

// httpStacks are the stacks of the http.Server tests: every one of
// stacks, and upoll with parking.
func httpStacks() []stack { return append(stacks(), parkStack()) }

// forEachHTTPStack runs f as a parallel subtest per stack of httpStacks.
func forEachHTTPStack(t *testing.T, f func(t *testing.T, st stack)) {
	for _, st := range httpStacks() {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			f(t, st)
		})
	}
}
