package load

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestServerCPUUnreadableFailsRun: a run whose server's CPU time cannot
// be read (its process gone, or /proc unreadable) fails with an error
// saying so. Before, the failed reading left a zero sample, and the run
// reported a window and a CPU time made of it: none at all when both
// readings failed, and, when only the first did, the server's whole
// life over a window measured from the zero time.
func TestServerCPUUnreadableFailsRun(t *testing.T) {
	const size = 64
	srv := startFix30Echo(t, size)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skip("no process to start:", err)
	}
	var out strings.Builder
	cfg := Config{Workload: PingPong, Addr: srv.ln.Addr().String(), Conns: 2, Size: size,
		Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond, ServerPID: gone.Process.Pid}
	err := Run(cfg, strings.NewReader(""), &out)
	if err == nil || !strings.Contains(err.Error(), "server's CPU") {
		t.Fatalf("Run with the server's process gone: %v, output %q; want an error about the server's CPU", err, out.String())
	}
}
