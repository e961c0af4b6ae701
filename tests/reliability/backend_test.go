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
	opts, _ := netpoll.ParseEnv(os.Getenv(netpoll.EnvVar))
	var c netpoll.Config
	for _, o := range opts {
		o(&c)
	}
	if c.Backend == netpoll.BackendStd {
		t.Skipf("backend std: %s", why)
	}
}
