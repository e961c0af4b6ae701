package reliability

import (
	"os"
	"testing"

	"github.com/upoll/upoll/netpoll"
)

// skipStdBackend skips a test of what only a poller backend offers when
// UPOLL makes BackendStd the default (the suites run a second time so).
func skipStdBackend(t testing.TB, why string) {
	t.Helper()
	if envConfig().Backend == netpoll.BackendStd {
		t.Skipf("backend std: %s", why)
	}
}

// skipInline skips a test whose handlers wait (for input, for room to
// write, for a peer) when UPOLL makes DispatchInline the default: inline
// handlers run on the poller and must not block, so a wait in a Conn
// call fails with ErrWouldBlock there and the fault the test sets up
// does not arise. netpoll's own suite covers inline dispatch.
func skipInline(t testing.TB) {
	t.Helper()
	if envConfig().Dispatch == netpoll.DispatchInline {
		t.Skip("dispatch inline: the handlers of this test wait, which inline handlers must not")
	}
}

// envConfig is what UPOLL asks for (zero fields: not asked for).
func envConfig() netpoll.Config {
	opts, _ := netpoll.ParseEnv(os.Getenv(netpoll.EnvVar))
	var c netpoll.Config
	for _, o := range opts {
		o(&c)
	}
	return c
}
