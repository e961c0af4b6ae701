// Package proc reads what the harness needs from Linux's /proc: the CPU time
// and resident memory of a process, and a description of the machine.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports (the kernel fixes it for
// user space), so it is not looked up with sysconf, which would need cgo.
const ClockTicks = 100

// CPU is a process's CPU time at one instant.
type CPU struct {
	// Ticks is utime+stime from /proc/<pid>/stat, in 1/ClockTicks seconds,
	// summed over all threads, living and exited.
	Ticks uint64
	// SchedNS is the sum of the first field of /proc/<pid>/task/*/schedstat
	// (nanoseconds on CPU) over the threads alive now; 0 if unavailable.
	SchedNS uint64
	// At is when the sample was taken.
	At time.Time
}

// CPUSeconds returns the CPU time used between a and b. It prefers the
// nanosecond schedstat figures, and falls back to clock ticks when schedstat is
// missing or disagrees with them by more than two ticks plus 10% (which
// happens when threads exit inside the window: their schedstat is lost).
func CPUSeconds(a, b CPU) float64 {
	ticks := float64(b.Ticks-a.Ticks) / ClockTicks
	if a.SchedNS == 0 || b.SchedNS < a.SchedNS {
		return ticks
	}
	ns := float64(b.SchedNS-a.SchedNS) / 1e9
	if diff := ns - ticks; diff > 2.0/ClockTicks+0.1*ticks || -diff > 2.0/ClockTicks+0.1*ticks {
		return ticks
	}
	return ns
}

// ReadCPU samples the CPU time of process pid.
func ReadCPU(pid int) (CPU, error) {
	now := time.Now()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return CPU{}, err
	}
	u, s, err := ParseStat(b)
	if err != nil {
		return CPU{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	c := CPU{Ticks: u + s, At: now}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // thread exited between Glob and ReadFile
		}
		ns, err := ParseSchedstat(b)
		if err != nil {
			c.SchedNS = 0
			break
		}
		c.SchedNS += ns
	}
	return c, nil
}

// ParseStat returns utime and stime (fields 14 and 15) of a /proc/<pid>/stat
// line. The command name (field 2) may hold spaces and parentheses, so fields
// are counted from the last ')'.
func ParseStat(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("no ')' after comm")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("only %d fields after comm", len(f))
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("utime: %w", err)
	}
	if stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stime: %w", err)
	}
	return utime, stime, nil
}

// ParseSchedstat returns the first field of a schedstat line: nanoseconds
// spent on a CPU.
func ParseSchedstat(b []byte) (uint64, error) {
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, errors.New("empty schedstat")
	}
	return strconv.ParseUint(f[0], 10, 64)
}

// ReadRSS returns the resident set size of process pid in bytes.
func ReadRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseStatusKB(b, "VmRSS")
}

// ParseStatusKB returns the value of a "Key:   N kB" line of
// /proc/<pid>/status, in bytes.
func ParseStatusKB(b []byte, key string) (uint64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0, fmt.Errorf("%s: no value", key)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s: not found", key)
}

// Machine-wide CPU time from the first line of /proc/stat, in clock ticks.
type SystemCPU struct {
	Busy  uint64 // user + nice + system + irq + softirq
	Steal uint64 // time the hypervisor ran something else
	At    time.Time
}

// ReadSystemCPU samples /proc/stat.
func ReadSystemCPU() (SystemCPU, error) {
	now := time.Now()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return SystemCPU{}, err
	}
	s, err := ParseProcStat(b)
	s.At = now
	return s, err
}

// ParseProcStat reads the aggregate "cpu" line of /proc/stat.
func ParseProcStat(b []byte) (SystemCPU, error) {
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return SystemCPU{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var v [8]uint64
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return SystemCPU{}, fmt.Errorf("/proc/stat field %d: %w", i+1, err)
		}
		v[i] = n
	}
	// user nice system idle iowait irq softirq steal
	return SystemCPU{Busy: v[0] + v[1] + v[2] + v[5] + v[6], Steal: v[7]}, nil
}
