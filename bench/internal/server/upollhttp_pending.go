package server

import (
	"errors"
	"net"
)

// errUpollHTTPPending is returned until upoll's nethttp adapter is usable.
var errUpollHTTPPending = errors.New("upoll's adapters/nethttp package is not usable in this build yet")

func upollHTTPAvailable() error { return errUpollHTTPPending }

func startUpollHTTP(addr, opts string) (net.Addr, error) { return nil, errUpollHTTPPending }
