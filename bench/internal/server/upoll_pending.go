package server

import (
	"errors"
	"net"
)

// errUpollPending is returned until upoll's netpoll package is usable.
var errUpollPending = errors.New("upoll's netpoll package is not usable in this build yet")

func upollAvailable() error { return errUpollPending }

func upollHTTPAvailable() error { return errUpollPending }

func startUpollEcho(addr, opts string) (net.Addr, error) { return nil, errUpollPending }

func startUpollHTTP(addr, opts string) (net.Addr, error) { return nil, errUpollPending }
