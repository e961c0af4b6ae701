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

func startFloorC(addr, _ string) (net.Addr, error) { return nil, errFloorLinux }

func startFloorCShort(addr, _ string) (net.Addr, error) { return nil, errFloorLinux }

func floorCAvailable() error { return errFloorLinux }
