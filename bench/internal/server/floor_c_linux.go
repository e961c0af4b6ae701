package server

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// floorCSource and floorCUringSource are the C floors' programs; the
// harness carries them and builds them where it runs, so that the C
// floors need no build step of their own and cgo stays off.
//
//go:embed floorc/floor.c
var floorCSource []byte

//go:embed floorc/floor_uring.c
var floorCUringSource []byte

// floorCBuilds says once per process whether the C floor builds here.
var floorCBuilds = sync.OnceValue(func() error {
	dir, _, err := buildFloorC()
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
})

// floorCAvailable reports why floor-c cannot run here: no C compiler on
// PATH, or one that does not build floor.c.
func floorCAvailable() error { return floorCBuilds() }

// floorCUringRuns says once per process whether the io_uring floor builds
// here and the kernel gives it what it needs: floor_uring -probe sets its
// ring up and exits, or names what is missing (io_uring turned off by
// the sysctl or a seccomp profile, a kernel before 6.1).
var floorCUringRuns = sync.OnceValue(func() error {
	dir, exe, err := buildFloorCUring()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if out, err := exec.Command(exe, "-probe").CombinedOutput(); err != nil {
		return fmt.Errorf("floor-c-uring: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
})

// floorCUringAvailable reports why floor-c-uring cannot run here.
func floorCUringAvailable() error { return floorCUringRuns() }

// buildFloorC compiles floor.c with cc -O2 into a new temporary directory
// and returns the directory and the executable in it.
func buildFloorC() (dir, exe string, err error) { return buildC("floor-c", "floor", floorCSource) }

// buildFloorCUring is buildFloorC for floor_uring.c.
func buildFloorCUring() (dir, exe string, err error) {
	return buildC("floor-c-uring", "floor_uring", floorCUringSource)
}

// buildC compiles src as name.c with cc -O2 into a new temporary
// directory and returns the directory and the executable in it; errors
// name the target.
func buildC(target, name string, src []byte) (dir, exe string, err error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", "", fmt.Errorf("no C compiler (cc) on PATH to build %s from", target)
	}
	if dir, err = os.MkdirTemp("", "upoll-bench-"+target+"-"); err != nil {
		return "", "", fmt.Errorf("%s: %w", target, err)
	}
	file, exe := filepath.Join(dir, name+".c"), filepath.Join(dir, name)
	if err := os.WriteFile(file, src, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("%s: %w", target, err)
	}
	out, err := exec.Command(cc, "-O2", "-o", exe, file).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("%s: %s -O2 %s.c: %v: %s", target, cc, name, err, bytes.TrimSpace(out))
	}
	return dir, exe, nil
}

// startFloorC builds the C floor, starts it on addr, and returns its
// address with its pid. The process lives until this one exits: its stdin
// is a pipe whose write end is never closed here, so this process's exit
// closes it, and the C server exits at EOF.
func startFloorC(addr, _ string) (net.Addr, error) { return startC("floor-c", buildFloorC, addr) }

// startFloorCShort starts the C floor with -short: a read that does not
// fill its buffer ends the socket's turn (floor.c says why that is safe
// under edge triggering).
func startFloorCShort(addr, _ string) (net.Addr, error) {
	return startC("floor-c", buildFloorC, addr, "-short")
}

// startFloorCUring starts the io_uring floor (floor_uring.c), with its
// connections in the ring's file table. Its address answers for its
// counters: the io_uring_enter calls it made, as waits.
func startFloorCUring(addr, _ string) (net.Addr, error) {
	return startC("floor-c-uring", buildFloorCUring, addr)
}

// startFloorCUringPlain starts the io_uring floor with -plain: its
// connections are ordinary descriptors, looked up by every request.
func startFloorCUringPlain(addr, _ string) (net.Addr, error) {
	return startC("floor-c-uring", buildFloorCUring, addr, "-plain")
}

// floorCUringBackend is the backend that the io_uring floor's counters
// name, so that the report tells its count from upoll's.
const floorCUringBackend = "c-uring"

// startC builds a C floor with build and starts it on addr with flags,
// as startFloorC says.
func startC(target string, build func() (string, string, error), addr string, flags ...string) (net.Addr, error) {
	dir, exe, err := build()
	if err != nil {
		return nil, err
	}
	// A started process keeps its executable; the name is not needed.
	defer os.RemoveAll(dir)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("%s: %w", target, os.NewSyscallError("pipe2", err))
	}
	stdin := os.NewFile(uintptr(p[0]), target+" stdin")
	defer stdin.Close()
	cmd := exec.Command(exe, append(flags, addr)...)
	cmd.Stdin, cmd.Stderr = stdin, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		unix.Close(p[1])
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	if err := cmd.Start(); err != nil {
		unix.Close(p[1])
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	// Every line the C server prints, READY first, then one per question
	// (the io_uring floor's "ENTERS N"); closed at its exit.
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		for {
			l, err := r.ReadString('\n')
			if l != "" {
				lines <- l
			}
			if err != nil {
				break
			}
		}
		close(lines)
		cmd.Wait()
	}()
	fail := func(err error) (net.Addr, error) {
		unix.Close(p[1])
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	var line string
	select {
	case line = <-lines:
	case <-time.After(10 * time.Second):
		return fail(errors.New("no READY line within 10s"))
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "READY ")
	if !ok {
		return fail(fmt.Errorf("want a READY line, got %q", line))
	}
	a, err := net.ResolveTCPAddr("tcp4", rest)
	if err != nil {
		return fail(err)
	}
	x := externalAddr{Addr: a, pid: cmd.Process.Pid}
	if target == "floor-c-uring" {
		x.counters = func() (Counters, error) { return askEnters(p[1], lines) }
	}
	return x, nil
}

// askEnters asks the io_uring floor, through the write end of its stdin,
// how many io_uring_enter calls it has made, and reads its answer from
// its lines. Callers ask one at a time (the control protocol's "stats").
func askEnters(stdin int, lines <-chan string) (Counters, error) {
	if _, err := unix.Write(stdin, []byte("stats\n")); err != nil {
		return Counters{}, os.NewSyscallError("write", err)
	}
	select {
	case l, ok := <-lines:
		if !ok {
			return Counters{}, errors.New("the C server exited")
		}
		var n uint64
		if _, err := fmt.Sscanf(l, "ENTERS %d", &n); err != nil {
			return Counters{}, fmt.Errorf("want an ENTERS line, got %q", l)
		}
		return Counters{At: time.Now().UnixNano(), Backend: floorCUringBackend, Waits: n}, nil
	case <-time.After(5 * time.Second):
		return Counters{}, errors.New("no ENTERS line within 5s")
	}
}
