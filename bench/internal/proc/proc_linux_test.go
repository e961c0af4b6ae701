package proc

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func rusageSec(t *testing.T) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// TestReadSelf burns about 200ms of CPU (bounded by 5s of wall time, so a
// busy machine cannot hang it) and compares /proc's figure with getrusage.
func TestReadSelf(t *testing.T) {
	pid := os.Getpid()
	a, err := ReadCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	r0 := rusageSec(t)
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for i := int64(0); i < 1e10 && time.Now().Before(deadline) && rusageSec(t)-r0 < 0.2; i++ {
		for j := 0; j < 10000; j++ {
			x += j
		}
	}
	r1 := rusageSec(t)
	b, err := ReadCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	sec, want := CPUSeconds(a, b), r1-r0
	if want < 0.1 || sec < want-0.03 || sec > want*1.3+0.05 {
		t.Fatalf("/proc says %.3fs CPU, getrusage %.3fs (x=%d)", sec, want, x)
	}
	rss, err := ReadRSS(pid)
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS = %d, %v", rss, err)
	}
}

// TestReadIOCountsReads: 100 reads of a pipe raise this process's syscr
// by at least 100 (the Go runtime may make more of its own meanwhile).
func TestReadIOCountsReads(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	a, err := ReadIO(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	for range 100 {
		if _, err := pw.Write(b[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := pr.Read(b[:]); err != nil {
			t.Fatal(err)
		}
	}
	c, err := ReadIO(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if c.SysR-a.SysR < 100 || c.SysW-a.SysW < 100 {
		t.Fatalf("100 reads and writes: syscr +%d, syscw +%d", c.SysR-a.SysR, c.SysW-a.SysW)
	}
}
