package netpoll

import "testing"

// skipUring skips a test of something BackendUring does differently
// when UPOLL makes it the default (the suites run again so); why says
// what.
func skipUring(t testing.TB, why string) {
	t.Helper()
	if cfg, err := buildConfig(nil, true); err == nil && cfg.Backend == BackendUring {
		t.Skipf("backend uring: %s", why)
	}
}
