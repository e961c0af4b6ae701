package proc

import (
	"testing"
)

func TestParseStatCommWithSpacesAndParens(t *testing.T) {
	line := []byte("4242 (my (weird) prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 731 129 0 0 20 0 9 0 100 1000 200 18446744073709551615\n")
	u, s, err := ParseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if u != 731 || s != 129 {
		t.Fatalf("utime, stime = %d, %d; want 731, 129", u, s)
	}
	for _, bad := range []string{"", "1 (x S 1 2", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 z 3"} {
		if _, _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q): no error", bad)
		}
	}
}

func TestParseSchedstat(t *testing.T) {
	ns, err := ParseSchedstat([]byte("1883261 0 1\n"))
	if err != nil || ns != 1883261 {
		t.Fatalf("got %d, %v", ns, err)
	}
	if _, err := ParseSchedstat([]byte("  \n")); err == nil {
		t.Fatal("empty schedstat: no error")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := []byte("Name:\tbench\nVmPeak:\t  10000 kB\nVmRSS:\t    5120 kB\nThreads:\t7\n")
	n, err := ParseStatusKB(status, "VmRSS")
	if err != nil || n != 5120*1024 {
		t.Fatalf("VmRSS = %d, %v", n, err)
	}
	if n, _ := ParseStatusKB(status, "Threads"); n != 7 {
		t.Fatalf("Threads = %d", n)
	}
	if _, err := ParseStatusKB(status, "VmSwap"); err == nil {
		t.Fatal("missing key: no error")
	}
}

func TestCPUSecondsFallsBackToTicks(t *testing.T) {
	a := CPU{Ticks: 100, SchedNS: 1_000_000_000}
	b := CPU{Ticks: 200, SchedNS: 1_500_000_000} // schedstat lost 0.5s: a thread exited
	if got := CPUSeconds(a, b); got != 1.0 {
		t.Fatalf("got %v, want ticks (1.0)", got)
	}
	b.SchedNS = 2_004_000_000
	if got := CPUSeconds(a, b); got != 1.004 {
		t.Fatalf("got %v, want schedstat (1.004)", got)
	}
}

func TestMachine(t *testing.T) {
	m := Describe()
	if m.Cores < 1 || m.GoVersion == "" || m.Kernel == "" || m.CPUModel == "" {
		t.Fatalf("incomplete: %+v", m)
	}
	if got := ParseCPUModel([]byte("processor\t: 0\nmodel name\t: AMD EPYC 7B13\n")); got != "AMD EPYC 7B13" {
		t.Fatalf("cpu model %q", got)
	}
	if got := ParseFDLimit([]byte("Max open files            20000                20000                files     \n")); got != 20000 {
		t.Fatalf("fd limit %d", got)
	}
}

func TestParseProcStat(t *testing.T) {
	s, err := ParseProcStat([]byte("cpu  139327 5 54806 1134122 222 10 3684 7 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Busy != 139327+5+54806+10+3684 || s.Steal != 7 {
		t.Fatalf("got %+v", s)
	}
	if _, err := ParseProcStat([]byte("intr 1 2 3\n")); err == nil {
		t.Fatal("no error for a bad first line")
	}
	if _, err := ReadSystemCPU(); err != nil {
		t.Fatal(err)
	}
}

func TestParseIO(t *testing.T) {
	c, err := ParseIO([]byte("rchar: 6976\nwchar: 12\nsyscr: 10\nsyscw: 3\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n"))
	if err != nil || c.SysR != 10 || c.SysW != 3 || c.Calls() != 13 {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, bad := range []string{"", "syscr: 1\n", "syscr: x\nsyscw: 2\n"} {
		if _, err := ParseIO([]byte(bad)); err == nil {
			t.Errorf("ParseIO(%q): no error", bad)
		}
	}
}
