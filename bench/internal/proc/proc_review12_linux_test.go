package proc

import (
	"os/exec"
	"testing"
	"time"
)

// TestReview12ReadCPUOfChild reads the CPU of another process, a child
// spinning in a shell loop, as the load generator reads the server's:
// what ReadCPU saw at its start plus CPUSeconds over the window comes to
// what the kernel's rusage charged the child for its whole life, within
// what it ran before the first and after the last reading; the window's
// figure does not pass the wall time between the readings.
func TestReview12ReadCPUOfChild(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Skip("no /bin/sh:", err)
	}
	pid := cmd.Process.Pid
	defer cmd.Process.Kill()
	a, err := ReadCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Let it run for 300 ms of CPU, or 3 s of wall time on a busy machine.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := ReadCPU(pid); err == nil && float64(c.Ticks-a.Ticks)/ClockTicks > 0.3 {
			break
		}
	}
	b, err := ReadCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	life := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	before := float64(a.Ticks) / ClockTicks
	if a.SchedNS > 0 {
		before = float64(a.SchedNS) / 1e9
	}
	window := CPUSeconds(a, b)
	if wall := b.At.Sub(a.At).Seconds(); window < 0.1 || window > wall+0.02 {
		t.Fatalf("child's CPU over the window %.3fs, wall time %.3fs", window, wall)
	}
	// Killed at once after the last reading: it ran at most a few ms more.
	if got := before + window; got > life+0.02 || got < life-0.05 {
		t.Fatalf("child's CPU: %.3fs before the window + %.3fs in it = %.3fs; rusage says %.3fs over its life", before, window, got, life)
	}
}
