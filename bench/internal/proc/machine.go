package proc

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// Machine describes where a report was measured.
type Machine struct {
	CPUModel   string `json:"cpu_model"`
	Cores      int    `json:"cores"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Kernel     string `json:"kernel"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	Hostname   string `json:"hostname"`
	Taskset    bool   `json:"taskset"`
	FDLimit    uint64 `json:"fd_limit"`
}

// Describe collects the machine description.
func Describe() Machine {
	m := Machine{
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = ParseCPUModel(b)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Hostname, _ = os.Hostname()
	_, err := exec.LookPath("taskset")
	m.Taskset = err == nil
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		m.FDLimit = ParseFDLimit(b)
	}
	return m
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo.
func ParseCPUModel(b []byte) string {
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// ParseFDLimit returns the soft "Max open files" limit of /proc/<pid>/limits
// (0 if absent or unlimited).
func ParseFDLimit(b []byte) uint64 {
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				var n uint64
				for _, c := range f[0] {
					if c < '0' || c > '9' {
						return 0
					}
					n = n*10 + uint64(c-'0')
				}
				return n
			}
		}
	}
	return 0
}
