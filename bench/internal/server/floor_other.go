//go:build !linux

package server

import (
	"errors"
	"net"
)

// errFloorLinux is why the floors cannot run here: both are epoll loops,
// the Go one on golang.org/x/sys/unix's Linux calls, the C one in
// floorc/floor.c.
var errFloorLinux = errors.New("the floor targets are epoll servers: Linux only")

func startFloorEcho(addr, _ string) (net.Addr, error) { return nil, errFloorLinux }

func startFloorEchoShort(addr, _ string) (net.Addr, error) { return nil, errFloorLinux }

func startFloorC(addr, _ string) (net.Addr, error) { return nil, errFloorLinux }

func startFloorCShort(addr, _ string) (net.Addr, error) { return nil, errFloorLinux }

func floorCAvailable() error { return errFloorLinux }

func startFloorCUring(addr, _ string) (net.Addr, error) { return nil, errFloorUringLinux }

func startFloorCUringPlain(addr, _ string) (net.Addr, error) { return nil, errFloorUringLinux }

func floorCUringAvailable() error { return errFloorUringLinux }

// errFloorUringLinux is why the io_uring floor cannot run here.
var errFloorUringLinux = errors.New("floor-c-uring is an io_uring server: Linux only")
