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

// floorCSource is the C floor's program; the harness carries it and builds
// it where it runs, so that floor-c needs no build step of its own and cgo
// stays off.
//
//go:embed floorc/floor.c
var floorCSource []byte

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

// buildFloorC compiles floor.c with cc -O2 into a new temporary directory
// and returns the directory and the executable in it.
func buildFloorC() (dir, exe string, err error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", "", errors.New("no C compiler (cc) on PATH to build the C floor from")
	}
	if dir, err = os.MkdirTemp("", "upoll-bench-floor-c-"); err != nil {
		return "", "", fmt.Errorf("floor-c: %w", err)
	}
	src, exe := filepath.Join(dir, "floor.c"), filepath.Join(dir, "floor")
	if err := os.WriteFile(src, floorCSource, 0o600); err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("floor-c: %w", err)
	}
	out, err := exec.Command(cc, "-O2", "-o", exe, src).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", "", fmt.Errorf("floor-c: %s -O2 floor.c: %v: %s", cc, err, bytes.TrimSpace(out))
	}
	return dir, exe, nil
}

// startFloorC builds the C floor, starts it on addr, and returns its
// address with its pid. The process lives until this one exits: its stdin
// is a pipe whose write end is never closed here, so this process's exit
// closes it, and the C server exits at EOF.
func startFloorC(addr, _ string) (net.Addr, error) { return startFloorCWith(addr) }

// startFloorCShort starts the C floor with -short: a read that does not
// fill its buffer ends the socket's turn (floor.c says why that is safe
// under edge triggering).
func startFloorCShort(addr, _ string) (net.Addr, error) { return startFloorCWith(addr, "-short") }

func startFloorCWith(addr string, flags ...string) (net.Addr, error) {
	dir, exe, err := buildFloorC()
	if err != nil {
		return nil, err
	}
	// A started process keeps its executable; the name is not needed.
	defer os.RemoveAll(dir)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("floor-c: %w", os.NewSyscallError("pipe2", err))
	}
	stdin := os.NewFile(uintptr(p[0]), "floor-c stdin")
	defer stdin.Close()
	cmd := exec.Command(exe, append(flags, addr)...)
	cmd.Stdin, cmd.Stderr = stdin, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		unix.Close(p[1])
		return nil, fmt.Errorf("floor-c: %w", err)
	}
	if err := cmd.Start(); err != nil {
		unix.Close(p[1])
		return nil, fmt.Errorf("floor-c: %w", err)
	}
	ready := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- l
		cmd.Wait()
	}()
	fail := func(err error) (net.Addr, error) {
		unix.Close(p[1])
		cmd.Process.Kill()
		return nil, fmt.Errorf("floor-c: %w", err)
	}
	var line string
	select {
	case line = <-ready:
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
	return externalAddr{Addr: a, pid: cmd.Process.Pid}, nil
}
