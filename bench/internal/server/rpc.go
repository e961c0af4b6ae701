package server

import (
	"fmt"
	"net"

	"github.com/upoll/upoll/bench/internal/rpcload"
)

func startStdRPC(addr, _ string) (net.Addr, error) {
	s, err := rpcload.Start("std", addr)
	if err != nil {
		return nil, err
	}
	return s.Addr, nil
}

func startUpollRPC(addr, opts string) (net.Addr, error) {
	if opts != "" {
		return nil, fmt.Errorf("upoll-rpc takes no options")
	}
	s, err := rpcload.Start("upoll", addr)
	if err != nil {
		return nil, err
	}
	return upollAddr{s.Addr, s.Poll}, nil
}
