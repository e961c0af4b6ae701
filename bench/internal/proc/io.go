package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// IO is a process's count of read- and write-class system calls, from
// /proc/<pid>/io (see proc(5)), summed over its threads, living and
// exited. The kernel counts read, readv, pread and preadv in SysR and
// their write twins in SysW, whatever the file (sockets, eventfds,
// pipes), each call once whether it moved bytes or failed with EAGAIN.
// Other calls (epoll_wait, io_uring_enter, accept4, recvmsg, sendmsg,
// futex, ...) are in neither.
type IO struct {
	SysR uint64
	SysW uint64
}

// Calls is SysR+SysW.
func (c IO) Calls() uint64 { return c.SysR + c.SysW }

// ReadIO samples the system-call counts of process pid.
func ReadIO(pid int) (IO, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return IO{}, err
	}
	return ParseIO(b)
}

// ParseIO reads syscr and syscw from the text of /proc/<pid>/io.
func ParseIO(b []byte) (IO, error) {
	var c IO
	found := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "syscr" && k != "syscw") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return IO{}, fmt.Errorf("/proc io %s: %w", k, err)
		}
		if k == "syscr" {
			c.SysR = n
		} else {
			c.SysW = n
		}
		found++
	}
	if found != 2 {
		return IO{}, fmt.Errorf("/proc io: syscr or syscw missing")
	}
	return c, nil
}
